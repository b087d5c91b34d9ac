"""Concurrency: many Python threads calling the compiled kernels at once — each kernel with
its own internal threads above its size threshold — give exactly the single-caller answer
and never abort; results are reproducible for a fixed thread count.

(numba's default "workqueue" threading layer aborts on concurrent parallel launches; the
numba backend selects a thread-safe layer, which this test would catch.)
"""

from __future__ import annotations

import copy
import os
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import kernel_threads, require_backend

import fastnn
from fastnn import _threads, logreg, mlp

#: (n_x, n_h, m): the course's small size (one thread inside), a mid size (cython's OpenMP
#: team; numba's C entries on fastnn._fastpath's team) and one far above every backend's
#: threading threshold (several threads inside)
SIZES = {"small": (2, 4, 400), "mid": (30, 16, 569), "large": (1024, 8, 1024)}
CALLERS = 6
CALLS_PER_CALLER = 4


def problem(size, seed):
    n_x, n_h, m = SIZES[size]
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_x, m))
    Y = (rng.rand(1, m) > 0.5).astype(float)
    params = mlp.initialize_parameters(n_x, n_h, 1, random_state=seed)
    params["W1"] *= 10
    return X, Y, params


def work(backend, X, Y, params):
    """A little of everything: train steps in place, propagate, dot, a short fit."""
    params = copy.deepcopy(params)
    costs = [mlp.train_step(params, X, Y, 0.5, backend=backend) for _ in range(3)]
    grads, cost = logreg.propagate(params["W1"][:1].T.copy(), 0.1, X, Y, backend=backend)
    d = fastnn.dot(X.ravel(), X.ravel()[::-1].copy(), backend=backend)
    fit = mlp.gradient_descent(params, X, Y, 5, 0.5, backend=backend)[0]
    return costs, params, grads["dw"], cost, d, fit


def assert_same(a, b):
    if isinstance(a, dict):
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", SIZES)
def test_concurrent_calls_match_one_caller(compiled_backend, size, two_kernel_threads):
    problems = [problem(size, seed) for seed in range(CALLERS)]
    expected = [work(compiled_backend, *p) for p in problems]
    jobs = [i % CALLERS for i in range(CALLERS * CALLS_PER_CALLER)]
    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(lambda i: (i, work(compiled_backend, *problems[i])), jobs))
    for i, result in results:
        assert_same(result, expected[i])


def test_fixed_thread_count_is_reproducible(compiled_backend):
    X, Y, params = problem("large", 7)
    runs = []
    for n in (1, 2, 2, 1):
        with kernel_threads(n):
            runs.append(work(compiled_backend, X, Y, params))
    assert_same(runs[1], runs[2])  # same thread count: bitwise the same
    assert_same(runs[0], runs[3])
    # and a different split of the sums changes only the last bits
    np.testing.assert_allclose(runs[0][1]["W1"], runs[1][1]["W1"], rtol=1e-12, atol=1e-15)


def test_a_busy_host_runs_the_same_chunks_on_one_thread(monkeypatch, two_kernel_threads):
    """numba's threaded kernels fall back to one thread while no other core is idle (as the
    Cython extension does in C): the same chunks, so bitwise the same results."""
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    problem_ = problem("large", 3)
    monkeypatch.setattr(numba_backend, "cores_free", lambda pool_threads=None: True)
    free = work("numba", *problem_)
    threads = numba_backend.numba.get_num_threads()
    calls = []
    set_num_threads = numba_backend.numba.set_num_threads
    monkeypatch.setattr(numba_backend, "cores_free", lambda pool_threads=None: False)
    monkeypatch.setattr(numba_backend.numba, "set_num_threads", lambda n: calls.append(n) or set_num_threads(n))
    on_one_thread = work("numba", *problem_)
    assert calls and calls[:2] == [1, threads]  # one thread for the kernel, then restored
    assert numba_backend.numba.get_num_threads() == threads
    assert_same(free, on_one_thread)


def _fit(name, X, Y, params):
    """numba's two threaded descents: logistic regression's (streamed features) or the
    2-layer net's (its own parallel region), 10 steps."""
    if name == "optimize":
        w = params["W1"][:1].T.copy()
        fitted, grads, costs = logreg.optimize(w, 0.1, X, Y, 10, 0.05, backend="numba")
        return fitted, grads, costs
    fitted, descent = mlp.gradient_descent(params, X, Y, 10, 0.5, backend="numba")
    return fitted, descent.costs


@pytest.mark.parametrize("name", ["optimize", "nn_model"])
def test_a_long_threaded_descent_looks_at_the_load_again(monkeypatch, two_kernel_threads, name):
    """numba's threaded descents run in calls of about ``DESCENT_CHUNK_WORK`` multiply-adds,
    each on the threads the free-core check allows as it starts: a core busy when a fit
    starts does not keep the whole fit on one thread.  The steps are those of one call."""
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    X, Y, params = problem("large", 5)
    step_work = X.size if name == "optimize" else X.size * params["W1"].shape[0]
    monkeypatch.setattr(numba_backend, "cores_free", lambda pool_threads=None: True)
    monkeypatch.setattr(numba_backend, "DESCENT_CHUNK_WORK", 1 << 62)
    whole = _fit(name, X, Y, params)
    answers = []

    def busy_at_first(pool_threads=None):
        answers.append(bool(answers))
        return answers[-1]

    monkeypatch.setattr(numba_backend, "cores_free", busy_at_first)
    monkeypatch.setattr(numba_backend, "DESCENT_CHUNK_WORK", 3 * step_work)
    chunked = _fit(name, X, Y, params)
    assert answers == [False, True, True, True]  # 10 steps: 3 + 3 + 3 + 1, one look each
    # bitwise: a call's first logits (optimize) are summed over the rows of X in the groups
    # of four the previous step's pass uses
    assert_same(chunked, whole)


@pytest.mark.parametrize(
    ("loadavg", "cpus", "free"),
    [
        ("0.50 0.40 0.30 1/321 4242\n", 2, True),
        ("1.90 1.10 0.90 2/321 4242\n", 2, False),
        ("3.0 3.0 3.0 3/99 1\n", 4, True),
        ("garbage\n", 2, True),
    ],
)
def test_cores_free_reads_the_run_queue(monkeypatch, tmp_path, loadavg, cpus, free):
    path = tmp_path / "loadavg"
    path.write_text(loadavg)
    caller = threading.get_native_id()  # runnable: it is reading
    (tmp_path / "task" / str(caller)).mkdir(parents=True)
    (tmp_path / "task" / str(caller) / "stat").write_text(f"{caller} (python) R 1 2 3\n")
    monkeypatch.setattr(_threads, "_LOADAVG", str(path))
    monkeypatch.setattr(_threads, "_TASKS", str(tmp_path / "task"))
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(_threads, "_load", [0.0, not free])
    monkeypatch.setattr(_threads, "time", types.SimpleNamespace(monotonic=lambda: 100.0))  # a still clock
    assert _threads.cores_free() is free
    path.write_text("9.0 9.0 9.0 99/321 4242\n" if free else "0.0 0.0 0.0 1/321 4242\n")
    assert _threads.cores_free() is free  # looked at again only after 0.1 s


def test_cores_free_without_proc_says_free(monkeypatch, tmp_path):
    monkeypatch.setattr(_threads, "_LOADAVG", str(tmp_path / "missing"))
    monkeypatch.setattr(_threads, "_load", [0.0, False])
    assert _threads.cores_free() is True


def test_cores_free_does_not_count_the_kernels_own_threads(monkeypatch, tmp_path):
    """Two CPUs; runnable: the caller and its pool's worker (spinning after the last
    region): a core is free.  A third runnable thread -- another library's pool in this
    process, say -- takes it."""
    loadavg = tmp_path / "loadavg"
    tasks = tmp_path / "task"
    caller, worker, other = threading.get_native_id(), 12, 13
    for tid in (caller, worker, other):
        (tasks / str(tid)).mkdir(parents=True)
    monkeypatch.setattr(_threads, "_LOADAVG", str(loadavg))
    monkeypatch.setattr(_threads, "_TASKS", str(tasks))
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    clock = [100.0]
    monkeypatch.setattr(_threads, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(_threads, "_load", [0.0, False])

    def look(running, states):
        clock[0] += 1
        loadavg.write_text(f"1.0 1.0 1.0 {running}/321 4242\n")
        for tid, state in zip((caller, worker, other), states):
            (tasks / str(tid) / "stat").write_text(f"{tid} (python3 (a b)) {state} 1 2 3\n")
        return _threads.cores_free(lambda: [worker])

    assert look(2, "RRS") is True
    assert look(3, "RRR") is False
    assert look(2, "RSR") is False  # the other thread is not the pool's
    assert _threads.cores_free(lambda: [worker]) is False  # looked at again only after 0.1 s


def test_cores_free_survives_a_failing_pool_probe(monkeypatch, tmp_path):
    """The pool's ids are optional: a probe that raises leaves the caller alone counted."""
    caller = threading.get_native_id()
    (tmp_path / "task" / str(caller)).mkdir(parents=True)
    (tmp_path / "task" / str(caller) / "stat").write_text(f"{caller} (python) R 1 2 3\n")
    (tmp_path / "loadavg").write_text("1.0 1.0 1.0 1/321 4242\n")
    monkeypatch.setattr(_threads, "_LOADAVG", str(tmp_path / "loadavg"))
    monkeypatch.setattr(_threads, "_TASKS", str(tmp_path / "task"))
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_threads, "_load", [0.0, False])

    def probe():
        raise RuntimeError("cannot compile the probe")

    assert _threads.cores_free(probe) is True


def test_numba_pool_threads_are_threads_of_this_process():
    """The ids the load check leaves out are real threads of this process (glibc's gettid,
    called from numba's workers)."""
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    if numba_backend._POOL_THREADS is None:
        pytest.skip("this C library has no gettid")
    ids = numba_backend._pool_threads()
    assert ids and ids <= {int(tid) for tid in os.listdir("/proc/self/task")}
