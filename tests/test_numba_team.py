"""numba's mid-size training steps on fastnn._fastpath's OpenMP team -- each thread calls
numba's C entry of its range of examples, then one call ends the step (sums in thread
order, update) -- give the float64 reference and the one-thread kernel's answer in both
dtypes, for every activation and one or two outputs; statuses, refusals and the size
threshold as documented in ``fastnn/_backends/numba.py`` (``MLP_TEAM_FROM``)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import reference as ref
from conftest import IN_CI, require_backend
from tolerances import FIT_RTOL, assert_close

from fastnn._backends import ACTIVATIONS, BAD_LABEL, NONFINITE, OK

require_backend("numba")
from fastnn._backends import numba as numba_backend  # noqa: E402

if numba_backend._fastpath is None:
    if IN_CI:
        pytest.fail("the compiled fast path (fastnn._fastpath) must be built in CI")
    pytest.skip("the compiled fast path is built by pip install", allow_module_level=True)

NAMES = ("W1", "b1", "W2", "b2")


class Spy:
    """fastnn._fastpath with its calls into numba's C functions counted."""

    def __init__(self, real):
        self.real, self.team, self.one_thread = real, 0, 0

    def numba_mlp_descend_team(self, *args):
        result = self.real.numba_mlp_descend_team(*args)
        self.team += result is not None
        return result

    def numba_mlp_descend(self, *args):
        result = self.real.numba_mlp_descend(*args)
        self.one_thread += result is not None
        return result


@pytest.fixture
def spy(monkeypatch):
    """The spy, and every step through the Python function that decides (the small steps
    it has run once would otherwise skip it: see test_numba_c_entries)."""
    s = Spy(numba_backend._fastpath)
    monkeypatch.setattr(numba_backend, "_fastpath", s)
    monkeypatch.setattr(numba_backend, "mlp_descend", numba_backend._mlp_descend)
    return s


@pytest.fixture
def team(monkeypatch, spy):
    """Every step with two threads and 64 examples per thread goes to the team."""
    monkeypatch.setattr(numba_backend, "MLP_TEAM_FROM", 0)
    return spy


def net(dtype, n_x=5, n_h=6, m=203, n_y=1, seed=0):
    """203 examples: three threads' worth (two are asked for), rows not a whole vector."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((n_y, m)) > 0.5).astype(dtype)
    shapes = ((n_h, n_x), (n_h, 1), (n_y, n_h), (n_y, 1))
    return X, Y, [(rng.standard_normal(s) / np.sqrt(s[1] if s[1] > 1 else 4)).astype(dtype) for s in shapes]


def descend(X, Y, params, lr, activation, n_threads, n_steps=6, check=True):
    params = [p.copy() for p in params]
    costs = np.full(n_steps, np.nan)
    status, n_done = numba_backend.mlp_descend(X, Y, *params, lr, activation, costs, check, n_threads)
    return status, n_done, costs, params


@pytest.mark.parametrize("activation", range(len(ACTIVATIONS)), ids=ACTIVATIONS)
@pytest.mark.parametrize("n_y", [1, 2])
def test_team_steps_match_the_reference(team, dtype, activation, n_y):
    X, Y, params = net(dtype, n_y=n_y)
    status, n_done, costs, got = descend(X, Y, params, 0.5, activation, 2, n_steps=3)
    assert (status, n_done, team.team, team.one_thread) == (OK, 3, 1, 0)
    expected = dict(zip(NAMES, params))
    for step in range(3):
        cost, expected = ref.mlp_step(X, Y, expected, 0.5, ACTIVATIONS[activation])
        assert_close(costs[step], cost, dtype, FIT_RTOL[dtype], f"cost {step}")
    for name, p in zip(NAMES, got):
        assert p.dtype == dtype
        assert_close(p, expected[name], dtype, FIT_RTOL[dtype], name)


@pytest.mark.parametrize("activation", range(len(ACTIVATIONS)), ids=ACTIVATIONS)
def test_team_matches_the_one_thread_kernel(team, dtype, activation):
    """The same steps as on one thread, to the rounding of the two partial sums."""
    X, Y, params = net(dtype, seed=1)
    on_team = descend(X, Y, params, 0.5, activation, 2)
    one_thread = descend(X, Y, params, 0.5, activation, 1)
    assert (team.team, team.one_thread) == (1, 1)
    assert on_team[:2] == one_thread[:2] == (OK, 6)
    assert_close(on_team[2], one_thread[2], dtype, what="costs")
    for got, expected, start in zip(on_team[3], one_thread[3], params):
        assert_close(got, expected, dtype, what="parameters")
        assert not np.array_equal(got, start)



def test_a_kept_workspace_gives_the_steps_of_a_fresh_one(team, dtype):
    """The calling thread's workspace is kept between calls, sized for the largest shape
    so far: a buffer left full of NaN by a larger step of another shape changes nothing."""
    X, Y, params = net(dtype, seed=2)
    fresh = descend(X, Y, params, 0.5, 0, 2)
    big = net(dtype, n_x=9, n_h=7, m=401, n_y=2, seed=3)
    descend(*big, 0.5, 0, 2)
    kept = numba_backend._team_buffers.ws
    kept.fill(np.nan)
    again = descend(X, Y, params, 0.5, 0, 2)
    assert numba_backend._team_buffers.ws is kept and kept.dtype == dtype
    assert fresh[:2] == again[:2] == (OK, 6) and team.team == 3
    np.testing.assert_array_equal(again[2], fresh[2])
    for got, expected in zip(again[3], fresh[3]):
        np.testing.assert_array_equal(got, expected)

def test_team_statuses(team, dtype):
    """A diverging descent stops at the one-thread kernel's step with its parameters (and
    runs on unchecked when asked to); bad labels are refused before anything is written."""
    X, Y, params = net(dtype)
    big_X, huge = (X * 1e100, 1e200) if dtype == np.float64 else (X * dtype.type(1e12), 1e20)
    relu = ACTIVATIONS.index("relu")
    diverged = descend(big_X, Y, params, huge, relu, 2)
    diverged_ref = descend(big_X, Y, params, huge, relu, 1)
    assert diverged[0] == diverged_ref[0] == NONFINITE and diverged[1] == diverged_ref[1] < 6
    assert all(np.isfinite(p).all() for p in diverged[3])
    for got, expected in zip(diverged[3], diverged_ref[3]):
        assert_close(got, expected, dtype, what="parameters")
    unchecked = descend(big_X, Y, params, huge, relu, 2, check=False)
    assert unchecked[:2] == (OK, 6) and not np.isfinite(unchecked[2]).all()
    bad = Y.copy()
    bad[0, 150] = 0.5  # in the second thread's range
    refused = descend(X, bad, params, 0.5, 0, 2)
    assert refused[:2] == (BAD_LABEL, 0)
    for got, start in zip(refused[3], params):
        np.testing.assert_array_equal(got, start)
    assert (team.team, team.one_thread) == (3, 1)


def test_threshold(spy):
    """Steps of the course's planar size stay on one thread; from ``MLP_TEAM_FROM`` (with
    two threads allowed and 64 examples per thread) they go to the team; from
    ``MLP_THREADS_FROM`` multiply-adds numba's own parallel kernels take over."""
    for (n_x, n_h, m), n_threads, path in [((2, 4, 400), 2, "one_thread"), ((2, 4, 4000), 2, "team"),
                                           ((2, 4, 4000), 1, "one_thread"), ((30, 16, 569), 2, "team"),
                                           ((64, 8, 4096), 2, None)]:
        work = m * n_h * (2 * n_x + 2 + 16)
        assert (work >= numba_backend.MLP_TEAM_FROM) == ((n_x, n_h, m) != (2, 4, 400))
        X, Y, params = net(np.float64, n_x, n_h, m)
        before = (spy.team, spy.one_thread)
        assert descend(X, Y, params, 0.1, 0, n_threads, n_steps=1)[:2] == (OK, 1)
        taken = (spy.team - before[0], spy.one_thread - before[1])
        assert taken == {"team": (1, 0), "one_thread": (0, 1), None: (0, 0)}[path], (n_x, n_h, m)


def test_fastpath_refuses_what_the_team_cannot_read():
    X, Y, params = net(np.float64)
    f64 = np.dtype(np.float64).num
    chunk = numba_backend._c_entry(("mlp_chunk", f64, 0))
    end = numba_backend._c_entry(("mlp_apply", f64, 1))
    assert chunk and end
    L = numba_backend._mlp_block_len.py_func(X.shape[1], 2)
    ws = np.zeros(numba_backend._mlp_ws_size.py_func(2, 5, 6, 1, L, numba_backend._window.py_func(X)))
    call = numba_backend._fastpath.numba_mlp_descend_team
    before = [p.copy() for p in params]
    refused = [
        (0, end, f64, X, Y, *params, 0.1, np.zeros(2), ws, 2),
        (chunk, 0, f64, X, Y, *params, 0.1, np.zeros(2), ws, 2),
        (chunk, end, f64, X, Y, *params, 0.1, np.zeros(2), ws.astype(np.float32), 2),
        (chunk, end, f64, X, Y, *params, 0.1, np.zeros(2), ws.reshape(1, -1), 2),
        (chunk, end, f64, X, Y, *params, 0.1, np.zeros(2), ws, 0),
        (chunk, end, f64, X, Y, *params, 0.1, np.zeros(2), ws, 65),
        (chunk, end, f64, X, Y, *params, 0.1, np.zeros(0), ws, 2),
        (chunk, end, f64, np.asfortranarray(X), Y, *params, 0.1, np.zeros(2), ws, 2),
        (chunk, end, f64, X, Y[:, :-1].copy(), *params, 0.1, np.zeros(2), ws, 2),
        (chunk, end, np.dtype(np.float32).num, X, Y, *params, 0.1, np.zeros(2), ws, 2),
    ]
    for args in refused:
        assert call(*args) is None
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)
    assert call(chunk, end, f64, X, Y, *params, 0.1, np.zeros(2), ws, 2) == 2 * 4 + OK


def test_a_failing_end_hands_the_call_back():
    """numba's C functions return 0 when the code inside raised: the call then goes back to
    the caller's other path, nothing written -- here an end of step that returns 0."""
    ptr, i64 = ctypes.c_void_p, ctypes.c_longlong
    failing_end = ctypes.CFUNCTYPE(i64, *[ptr] * 6, i64, i64, i64, i64, ptr, i64, ptr, ctypes.c_double,
                                   i64, ptr)(lambda *args: 0)
    X, Y, params = net(np.float64)
    f64 = np.dtype(np.float64).num
    chunk = numba_backend._c_entry(("mlp_chunk", f64, 0))
    L = numba_backend._mlp_block_len.py_func(X.shape[1], 2)
    ws = np.zeros(numba_backend._mlp_ws_size.py_func(2, 5, 6, 1, L, numba_backend._window.py_func(X)))
    before = [p.copy() for p in params]
    address = ctypes.cast(failing_end, ctypes.c_void_p).value
    assert numba_backend._fastpath.numba_mlp_descend_team(chunk, address, f64, X, Y, *params, 0.1,
                                                          np.zeros(2), ws, 2) is None
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)
