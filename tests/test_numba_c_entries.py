"""The numba backend's C entry points (``numba.cfunc`` kernels called by fastnn._fastpath,
without numba's dispatcher) compute exactly what the dispatchers compute, and are given
only the arrays they can read: anything else takes the dispatcher's path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IN_CI, require_backend

from fastnn._backends import ACTIVATIONS, BAD_LABEL, NONFINITE, OK

require_backend("numba")
from fastnn._backends import numba as numba_backend  # noqa: E402

if numba_backend._fastpath is None:
    if IN_CI:
        pytest.fail("the compiled fast path (fastnn._fastpath) must be built in CI")
    pytest.skip("the compiled fast path is built by pip install", allow_module_level=True)


class Spy:
    """fastnn._fastpath with its two calls into numba's C functions counted by result."""

    def __init__(self, real):
        self.real, self.taken, self.refused = real, 0, 0

    def _count(self, result):
        if result is None:
            self.refused += 1
        else:
            self.taken += 1
        return result

    def numba_mlp_descend(self, *args):
        return self._count(self.real.numba_mlp_descend(*args))

    def numba_logreg_propagate(self, *args):
        return self._count(self.real.numba_logreg_propagate(*args))


@pytest.fixture
def spy(monkeypatch):
    s = Spy(numba_backend._fastpath)
    monkeypatch.setattr(numba_backend, "_fastpath", s)
    return s


def dispatchers_only(monkeypatch):
    """From here on, numba's kernels run through their dispatchers (as without _fastpath)."""
    monkeypatch.setattr(numba_backend, "_fastpath", None)
    monkeypatch.setattr(numba_backend, "_C_ENTRIES", {})


def net(dtype, n_x=3, n_h=5, m=37, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    params = [rng.standard_normal(s).astype(dtype) for s in ((n_h, n_x), (n_h, 1), (1, n_h), (1, 1))]
    return X, Y, params


def descend(X, Y, params, lr, activation, n_steps=6):
    params = [p.copy() for p in params]
    costs = np.full(n_steps, np.nan)
    status, n_done = numba_backend.mlp_descend(X, Y, *params, lr, activation, costs, True, 1)
    return status, n_done, costs, params


@pytest.mark.parametrize("activation", range(len(ACTIVATIONS)), ids=ACTIVATIONS)
def test_mlp_descend_c_entry_matches_the_dispatcher(spy, monkeypatch, dtype, activation):
    X, Y, params = net(dtype)
    via_c = descend(X, Y, params, 0.5, activation)
    assert (spy.taken, spy.refused) == (1, 0)
    dispatchers_only(monkeypatch)
    via_dispatcher = descend(X, Y, params, 0.5, activation)
    assert via_c[:2] == via_dispatcher[:2] == (OK, 6)
    np.testing.assert_array_equal(via_c[2], via_dispatcher[2])
    for got, expected, start in zip(via_c[3], via_dispatcher[3], params):
        np.testing.assert_array_equal(got, expected)
        assert not np.array_equal(got, start)  # the steps were taken, in place


def test_mlp_descend_c_entry_statuses(spy, monkeypatch, dtype):
    """A diverging descent stops at the same step, bad labels are refused, on both paths."""
    X, Y, params = net(dtype)
    # relu is unbounded: the second step overflows
    big_X, huge = (X * 1e100, 1e200) if dtype == np.float64 else (X * dtype.type(1e12), 1e20)
    bad = Y.copy()
    bad[0, 3] = 0.5
    results = []
    for c_entries in (True, False):
        if not c_entries:
            dispatchers_only(monkeypatch)
        results.append((descend(big_X, Y, params, huge, 1),
                        descend(X, bad, params, 0.5, 0)))
    (diverged, refused), (diverged_ref, refused_ref) = results
    assert spy.taken == 2
    assert diverged[0] == diverged_ref[0] == NONFINITE and diverged[1] == diverged_ref[1] < 6
    np.testing.assert_array_equal(diverged[2], diverged_ref[2])
    assert refused[:2] == refused_ref[:2] == (BAD_LABEL, 0)


def propagate(w, b, X, Y):
    return numba_backend.logreg_propagate(w, b, X, Y, 1)


def test_logreg_propagate_c_entry_matches_the_dispatcher(spy, monkeypatch, dtype):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 45)).astype(dtype)
    Y = (rng.random((1, 45)) > 0.5).astype(dtype)
    w = rng.standard_normal((7, 1)).astype(dtype)
    b = np.array([0.25], dtype)
    w_inf = w.copy()
    w_inf[2, 0] = np.inf
    bad = Y.copy()
    bad[0, 0] = 2.0
    cases = [(w, Y), (w_inf, Y), (w, bad)]
    via_c = [propagate(v, b, X, labels) for v, labels in cases]
    assert (spy.taken, spy.refused) == (3, 0)
    dispatchers_only(monkeypatch)
    via_dispatcher = [propagate(v, b, X, labels) for v, labels in cases]
    for got, expected, status in zip(via_c, via_dispatcher, (OK, NONFINITE, BAD_LABEL)):
        assert got[0] == expected[0] == status
        if status != BAD_LABEL:
            assert got[1].shape == (7, 1) and got[1].dtype == dtype
            np.testing.assert_array_equal(got[1], expected[1])
            np.testing.assert_array_equal(got[2:], expected[2:])


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


REFUSED_MLP = {
    "float32 arrays, float64 kernel": lambda X, Y, p, c: (X.astype(np.float32), Y.astype(np.float32),
                                                          [q.astype(np.float32) for q in p], c),
    "fortran X": lambda X, Y, p, c: (np.asfortranarray(X), Y, p, c),
    "strided W1": lambda X, Y, p, c: (X, Y, [np.repeat(p[0], 2, axis=1)[:, ::2], *p[1:]], c),
    "read-only W2": lambda X, Y, p, c: (X, Y, [p[0], p[1], read_only(p[2]), p[3]], c),
    "wrong b1": lambda X, Y, p, c: (X, Y, [p[0], p[1][:-1].copy(), *p[2:]], c),
    "float32 costs": lambda X, Y, p, c: (X, Y, p, c.astype(np.float32)),
    "no costs": lambda X, Y, p, c: (X, Y, p, c[:0]),
    "2-D costs": lambda X, Y, p, c: (X, Y, p, c.reshape(1, -1)),
}


@pytest.mark.parametrize("case", REFUSED_MLP)
def test_fastpath_refuses_arrays_the_c_step_cannot_read(case):
    X, Y, params = net(np.float64)
    address = numba_backend._c_entry(("mlp_descend", np.dtype(np.float64).num, 0, 1))
    assert address
    X, Y, params, costs = REFUSED_MLP[case](X, Y, params, np.zeros(2))
    before = [p.copy() for p in params]
    call = numba_backend._fastpath.numba_mlp_descend
    assert call(address, np.dtype(np.float64).num, X, Y, *params, 0.1, costs) is None
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)


def test_fastpath_refuses_logreg_arrays_the_c_function_cannot_read():
    f64 = np.dtype(np.float64).num
    address = numba_backend._c_entry(("logreg_propagate", f64))
    call = numba_backend._fastpath.numba_logreg_propagate
    X, Y, w, b = np.ones((3, 4)), np.ones((1, 4)), np.ones((3, 1)), np.zeros(1)
    assert call(address, f64, w, b, X, Y)[0] == OK
    assert call(0, f64, w, b, X, Y) is None
    assert call(address, f64, w, np.zeros(2), X, Y) is None
    assert call(address, f64, w, b.astype(np.float32), X, Y) is None
    assert call(address, f64, w[:2].copy(), b, X, Y) is None
    assert call(address, f64, w, b, X.T.copy().T, Y) is None
    assert call(address, np.dtype(np.float32).num, w, b, X, Y) is None


def test_no_c_entry_for_other_dtypes():
    assert numba_backend._c_entry(("logreg_propagate", np.dtype(np.int64).num)) == 0
