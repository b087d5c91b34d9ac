"""Every way a compiled kernel cuts its work -- forced at a small size through the
backends' thresholds -- gives the float64 reference, in both dtypes: logistic regression's
one pass (``propagate``) and descent loop (``optimize``), the 2-layer net's training step."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import reference as ref
from conftest import kernel_threads, require_backend
from tolerances import FIT_RTOL, assert_close

import fastnn
from fastnn import logreg, mlp

N_X, M = 259, 203  # rows not a multiple of 4, a row not a multiple of the vector


def check_logreg(backend, dtype, n_x=N_X, m=M):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    w = (rng.standard_normal((n_x, 1)) / np.sqrt(n_x)).astype(dtype)
    grads, cost = logreg.propagate(w, 0.25, X, Y, backend=backend)
    dw, db, expected_cost = ref.logreg_propagate(w, 0.25, X, Y)
    assert_close(grads["dw"], dw, dtype, what="dw")
    assert_close(grads["db"], db, dtype, what="db")
    assert_close(cost, expected_cost, dtype, what="cost")
    params, grads, costs = logreg.optimize(w, 0.25, X, Y, num_iterations=20, learning_rate=0.1, backend=backend)
    w_ref, b_ref, dw_ref, _, costs_ref = ref.logreg_optimize(w, 0.25, X, Y, 20, 0.1)
    assert_close(params["w"], w_ref, dtype, FIT_RTOL[dtype], "w")
    assert_close(params["b"], b_ref, dtype, FIT_RTOL[dtype], "b")
    assert_close(grads["dw"], dw_ref, dtype, FIT_RTOL[dtype], "dw")
    assert_close(costs, costs_ref[::100], dtype, FIT_RTOL[dtype], "costs")


def check_divergence(backend, dtype):
    """A descent that overflows stops at its last finite step, as the reference backend's:
    same steps done (costs), same parameters and last gradients."""
    rng = np.random.default_rng(4)
    X = (rng.standard_normal((N_X, M)) * 1e30).astype(dtype)
    Y = (rng.random((1, M)) > 0.5).astype(dtype)
    w = np.zeros((N_X, 1), dtype)
    lr = 1e250 if dtype == np.float64 else 1e5  # the first step is finite, the second is not
    results = []
    for name in (backend, "numpy"):
        with pytest.warns(fastnn.DivergenceWarning, match="optimize diverged"):
            results.append(logreg.optimize(w, 0.0, X, Y, num_iterations=50, learning_rate=lr,
                                           print_cost=False, backend=name))
    (params, grads, costs), (params_ref, grads_ref, costs_ref) = results
    assert len(costs) == len(costs_ref) == 1 and np.isfinite(params["w"]).all()
    assert_close(params["w"], params_ref["w"], dtype, FIT_RTOL[dtype], "w")
    assert_close(grads["dw"], grads_ref["dw"], dtype, FIT_RTOL[dtype], "dw")


#: the Cython extension's modes: STREAM (rows of X by threads, the descent reading X once
#: per step; its one pass's backward one row of X at a time, or four as for long rows),
#: TILES (blocks of examples through the micro-kernels), rows (plain blocks)
CYTHON_MODES = {
    "stream": {"STREAM_MIN_BYTES": 0},
    "stream-four-rows": {"STREAM_MIN_BYTES": 0, "ONE_ROW_DOTS_MAX_ROW": 0},
    "tiles": {"STREAM_MIN_BYTES": math.inf, "LOGREG_TILES_MIN_NX": 1},
    "rows": {"STREAM_MIN_BYTES": math.inf, "LOGREG_TILES_MIN_NX": 1 << 30},
}


@contextlib.contextmanager
def cython_forced(settings: dict, threads: int):
    """The Cython extension's thresholds set to ``settings`` (threads at any size) and its
    kernels on ``threads`` threads inside the block; both restored after."""
    require_backend("cython")
    from fastnn._backends import cython

    before = cython._cykernels.tuning()
    cython._cykernels.tuning(**settings, THREAD_WORK=0)
    try:
        with kernel_threads(threads):
            yield
    finally:
        cython._cykernels.tuning(**before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mode", CYTHON_MODES)
def test_cython_logreg_modes_agree_with_reference(dtype, mode, threads):
    with cython_forced(CYTHON_MODES[mode], threads):
        check_logreg("cython", dtype)
        check_divergence("cython", dtype)


#: the Cython extension's modes of a training step, forced at a small size (BLAS_MIN_DIM
#: large keeps the BLAS out): STREAM (two passes over X; float32 with n_h <= 8 packs two
#: examples per vector backward, and its forward goes by register tiles over chunks of
#: rows of X -- of 8 rows in "stream-chunks"), TILES, rows, and the BLAS for the first
#: layer's products
CYTHON_MLP_MODES = {
    "stream": {"STREAM_MIN_BYTES": 0, "BLAS_MIN_DIM": 1 << 30},
    "stream-chunks": {"STREAM_MIN_BYTES": 0, "BLAS_MIN_DIM": 1 << 30, "FORWARD_CHUNK_BYTES": 0},
    "tiles": {"STREAM_MIN_BYTES": math.inf, "BLAS_MIN_DIM": 1 << 30, "MLP_TILES_MIN_NX": 1},
    "rows": {"STREAM_MIN_BYTES": math.inf, "BLAS_MIN_DIM": 1 << 30, "MLP_TILES_MIN_NX": 1 << 30},
    "blas": {"BLAS_MIN_DIM": 1},
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_h", [3, 8, 13])
@pytest.mark.parametrize("mode", CYTHON_MLP_MODES)
def test_cython_mlp_modes_agree_with_reference(dtype, mode, n_h, threads):
    """Three training steps in every mode give the reference's, with a row of X that is
    not a multiple of the vector nor of two examples (M odd), at hidden sizes below, at
    and above half a float32 vector."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N_X, M)).astype(dtype)
    Y = (rng.random((2, M)) > 0.5).astype(dtype)
    params = {"W1": rng.standard_normal((n_h, N_X)) / np.sqrt(N_X), "b1": 0.1 * rng.standard_normal((n_h, 1)),
              "W2": rng.standard_normal((2, n_h)) / np.sqrt(n_h), "b2": 0.1 * rng.standard_normal((2, 1))}
    params = {k: v.astype(dtype) for k, v in params.items()}
    expected = {k: v.astype(np.float64) for k, v in params.items()}
    with cython_forced(CYTHON_MLP_MODES[mode], threads):
        for step in range(3):
            cost = mlp.train_step(params, X, Y, learning_rate=0.5, backend="cython")
            expected_cost, expected = ref.mlp_step(X, Y, expected, 0.5)
            assert_close(cost, expected_cost, dtype, FIT_RTOL[dtype], f"cost of step {step}")
    for name in expected:
        assert_close(params[name], expected[name], dtype, FIT_RTOL[dtype], name)


@pytest.mark.parametrize("m", [9, 16, 17, 40])
def test_cython_stream_float32_narrow_rows(m):
    """The float32 two-pass mode with n_h <= 8 at rows of X shorter than, equal to and just
    over a vector (16): below a vector the forward streams X (pairs), from a vector on the
    tiles take whole vectors and the last, overlapping one, on one and two threads."""
    f32 = np.dtype(np.float32)
    rng = np.random.default_rng(m)
    X = rng.standard_normal((N_X, m)).astype(f32)
    Y = (rng.random((1, m)) > 0.5).astype(f32)
    params = {"W1": rng.standard_normal((5, N_X)) / np.sqrt(N_X), "b1": 0.1 * rng.standard_normal((5, 1)),
              "W2": rng.standard_normal((1, 5)), "b2": np.full((1, 1), 0.1)}
    expected = dict(params)
    params = {k: v.astype(f32) for k, v in params.items()}
    for threads in (1, 2):
        got = {k: v.copy() for k, v in params.items()}
        with cython_forced(CYTHON_MLP_MODES["stream-chunks"], threads):
            cost = mlp.train_step(got, X, Y, learning_rate=0.5, backend="cython")
        expected_cost, want = ref.mlp_step(X, Y, expected, 0.5)
        assert_close(cost, expected_cost, f32, FIT_RTOL[f32], "cost")
        for name in want:
            assert_close(got[name], want[name], f32, FIT_RTOL[f32], name)


@pytest.mark.parametrize(("split", "threads"), [("features", 2), ("examples", 2), ("features", 1)])
def test_numba_logreg_splits_agree_with_reference(monkeypatch, dtype, split, threads):
    """Both ways numba's logistic regression cuts its work (the rows of X, streamed, with
    the one-pass descent -- on one thread too -- or ranges of examples), forced at a small
    size, give the reference; a diverging descent stops where the reference's does."""
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    if threads > 1 and (not numba_backend._PARALLEL or numba_backend._MAX_THREADS < threads):
        pytest.skip(f"numba runs {numba_backend._MAX_THREADS} thread(s) here (parallel={numba_backend._PARALLEL})")
    monkeypatch.setattr(numba_backend, "LOGREG_STREAM_FROM", 0)
    # every pass through the Python function that reads the patched thresholds (the fast
    # path's object in front of it has its own copy of LOGREG_STREAM_FROM)
    monkeypatch.setattr(numba_backend, "logreg_propagate", numba_backend._logreg_propagate)
    if split == "examples":
        monkeypatch.setattr(numba_backend, "LOGREG_STREAM_MAX_ROW", 0)
        monkeypatch.setattr(numba_backend, "LOGREG_THREADS_FROM", 0)
    modes = []
    choose = numba_backend._logreg_mode
    monkeypatch.setattr(numba_backend, "_logreg_mode", lambda *a, **k: modes.append(choose(*a, **k)) or modes[-1])
    with kernel_threads(threads):
        check_logreg("numba", dtype)
        check_divergence("numba", dtype)
    calls = 3 if threads > 1 else 2  # propagate with one thread takes the serial path directly
    assert modes == [(threads, split == "features")] * calls


@pytest.mark.parametrize("threads", [1, 2])
def test_numba_logreg_stream_long_rows_agree_with_reference(monkeypatch, dtype, threads):
    """The streamed split's backward over rows longer than ``ONE_ROW_DOTS_MAX_ROW`` bytes
    (four rows per pass, then the last ones alone; shorter rows, one at a time, are the
    test above): 23 rows, cut in 11 and 12 on two threads, of 1031 examples."""
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    if threads > 1 and (not numba_backend._PARALLEL or numba_backend._MAX_THREADS < threads):
        pytest.skip(f"numba runs {numba_backend._MAX_THREADS} thread(s) here (parallel={numba_backend._PARALLEL})")
    n_x, m = 23, 1031
    assert m * np.dtype(dtype).itemsize > numba_backend.ONE_ROW_DOTS_MAX_ROW
    monkeypatch.setattr(numba_backend, "LOGREG_STREAM_FROM", 0)
    monkeypatch.setattr(numba_backend, "logreg_propagate", numba_backend._logreg_propagate)
    monkeypatch.setattr(numba_backend, "_logreg_mode", lambda X, n: (min(n, 2), True))
    with kernel_threads(threads):
        check_logreg("numba", dtype, n_x, m)


def test_numba_logreg_split_per_kernel(monkeypatch):
    """Short rows of a large X: the descent and one pass alone stream the features (on one
    thread too: the descent's one pass over X per step); long rows split the examples,
    one thread per ``LOGREG_MIN_EXAMPLES`` at most.  (The choice only; on a host of two
    threads for numba, whatever this one has.)"""
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    monkeypatch.setattr(numba_backend, "_PARALLEL", True)
    monkeypatch.setattr(numba_backend, "_MAX_THREADS", 2)
    X = np.empty((numba_backend.LOGREG_STREAM_FROM // (8 * 209) + 1, 209))
    mode = numba_backend._logreg_mode
    assert mode(X, 2) == (2, True)
    assert mode(X, 1) == (1, True)
    assert mode(X[:, :100], 2) == (1, False)  # under 4 MiB now
    long_rows = numba_backend.LOGREG_STREAM_MAX_ROW // 8 + 1
    wide = np.empty((numba_backend.LOGREG_THREADS_FROM // long_rows + 1, long_rows))
    assert mode(wide, 2) == (2, False)
    monkeypatch.setattr(numba_backend, "LOGREG_MIN_EXAMPLES", long_rows // 2 + 1)
    assert mode(wide, 2) == (1, False)  # too few examples for two threads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n_x", "m", "nt", "stream"),
                         [(259, 203, 2, True), (259, 203, 2, False), (12288, 209, 2, False), (5, 9, 3, True)])
def test_numba_logreg_thread_rows_own_their_cache_lines(dtype, n_x, m, nt, stream):
    """The rows numba's logistic-regression threads write (logits ``Z``, the row-tail
    windows, the loss's scratch ``E``) start 64-byte cache lines and fill whole ones: no
    line holds two threads' rows (false sharing made the two-thread pass ~1.4x slower)."""
    require_backend("numba")
    from numba import njit

    from fastnn._backends import numba as numba_backend

    @njit
    def row_addresses(X, nt, stream):
        Z, tail, _, _, Gm, _, E = numba_backend._logreg_buffers(X, nt, stream)
        rows = np.empty((4, nt), np.int64)
        for t in range(nt):
            rows[0, t] = Z[t].ctypes.data
            rows[1, t] = tail[t].ctypes.data
            rows[2, t] = Gm[t].ctypes.data
            rows[3, t] = E[t].ctypes.data
        return rows, Z.shape[2], tail.shape[2], E.shape[2]

    X = np.zeros((n_x, m), dtype)
    rows, *lengths = row_addresses(X, nt, stream)
    itemsize = X.itemsize
    assert (rows % 64 == 0).all(), rows % 64
    assert all(n * itemsize % 64 == 0 for n in lengths), lengths
    assert lengths[0] >= (m if stream else -(-m // nt)) and lengths[2] == lengths[0]


@pytest.mark.parametrize("n_h", range(1, 18))
def test_numba_tiles_every_hidden_size(dtype, n_h):
    """numba's register tiles cover the hidden units eight at a time forward (the last tile
    1-8 units) and four at a time backward (the last 1-3), over chunks of rows of X: every
    n_h from 1 to 17, with rows enough for three chunks in either dtype, gives the
    reference's step."""
    require_backend("numba")
    n_x = 700  # 203 examples: chunks of 160 rows (float64) or 320 (float32)
    rng = np.random.default_rng(n_h)
    X = rng.standard_normal((n_x, M)).astype(dtype)
    Y = (rng.random((1, M)) > 0.5).astype(dtype)
    params = {"W1": rng.standard_normal((n_h, n_x)) / np.sqrt(n_x), "b1": 0.1 * rng.standard_normal((n_h, 1)),
              "W2": rng.standard_normal((1, n_h)) / np.sqrt(n_h), "b2": 0.1 * rng.standard_normal((1, 1))}
    params = {k: v.astype(dtype) for k, v in params.items()}
    expected_cost, expected = ref.mlp_step(X, Y, {k: v.astype(np.float64) for k, v in params.items()}, 0.5)
    cost = mlp.train_step(params, X, Y, learning_rate=0.5, backend="numba")
    assert_close(cost, expected_cost, dtype, FIT_RTOL[dtype], "cost")
    for name in expected:
        assert_close(params[name], expected[name], dtype, FIT_RTOL[dtype], name)
