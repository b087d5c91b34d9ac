"""The numba backend's C entry points (``numba.cfunc`` kernels called by fastnn._fastpath,
without numba's dispatcher) compute what the dispatchers compute, and are given only the
arrays they can read: anything else takes the dispatcher's path.

Same statuses and step counts exactly; values to the rounding of the sums: the C function
calls the same kernel, but LLVM optimizes it again once linked in, with one thread known,
and the allowed fastmath flags let it reassociate sums (seen: 1 ulp in float32 after 1e31
steps of a diverging descent)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from conftest import IN_CI, require_backend
from tolerances import assert_close

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
    """The spy, and every step and pass through the Python function that decides (the small
    ones it has run once would otherwise skip it: see the NumbaMlpDescent and
    NumbaLogregPropagate tests below)."""
    s = Spy(numba_backend._fastpath)
    monkeypatch.setattr(numba_backend, "_fastpath", s)
    monkeypatch.setattr(numba_backend, "mlp_descend", numba_backend._mlp_descend)
    monkeypatch.setattr(numba_backend, "logreg_propagate", numba_backend._logreg_propagate)
    return s


def assert_same(got, expected, dtype, what=""):
    """Non-finite in the same places, the finite values equal to the rounding of sums."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected), err_msg=what)
    finite = np.isfinite(expected)
    assert_close(got[finite], expected[finite], dtype, what=what)


def dispatchers_only(monkeypatch):
    """From here on, numba's kernels run through their dispatchers (as without _fastpath)."""
    monkeypatch.setattr(numba_backend, "_fastpath", None)
    monkeypatch.setattr(numba_backend, "_C_ENTRIES", {})
    monkeypatch.setattr(numba_backend, "_small_steps", None)
    monkeypatch.setattr(numba_backend, "mlp_descend", numba_backend._mlp_descend)
    monkeypatch.setattr(numba_backend, "_small_passes", None)
    monkeypatch.setattr(numba_backend, "logreg_propagate", numba_backend._logreg_propagate)


def net(dtype, n_x=3, n_h=5, m=37, n_y=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((n_y, m)) > 0.5).astype(dtype)
    shapes = ((n_h, n_x), (n_h, 1), (n_y, n_h), (n_y, 1))
    return X, Y, [rng.standard_normal(s).astype(dtype) for s in shapes]


def descend(X, Y, params, lr, activation, n_steps=6, check=True):
    params = [p.copy() for p in params]
    costs = np.full(n_steps, np.nan)
    status, n_done = numba_backend.mlp_descend(X, Y, *params, lr, activation, costs, check, 1)
    return status, n_done, costs, params


@pytest.mark.parametrize("activation", range(len(ACTIVATIONS)), ids=ACTIVATIONS)
@pytest.mark.parametrize("sizes", [(3, 5, 37, 1), (4, 3, 50, 2)], ids=["n_y=1", "n_y=2"])
def test_mlp_descend_c_entry_matches_the_dispatcher(spy, monkeypatch, dtype, activation, sizes):
    X, Y, params = net(dtype, *sizes)
    via_c = descend(X, Y, params, 0.5, activation)
    assert (spy.taken, spy.refused) == (1, 0)
    dispatchers_only(monkeypatch)
    via_dispatcher = descend(X, Y, params, 0.5, activation)
    assert via_c[:2] == via_dispatcher[:2] == (OK, 6)
    assert_same(via_c[2], via_dispatcher[2], dtype, "costs")
    for got, expected, start in zip(via_c[3], via_dispatcher[3], params):
        assert_same(got, expected, dtype, "parameters")
        assert not np.array_equal(got, start)  # the steps were taken, in place


def test_mlp_descend_c_entry_statuses(spy, monkeypatch, dtype):
    """A diverging descent stops at the same step with the same parameters (and runs on
    unchecked when asked to), bad labels are refused, on both paths."""
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
                        descend(big_X, Y, params, huge, 1, check=False),
                        descend(X, bad, params, 0.5, 0)))
    (diverged, unchecked, refused), (diverged_ref, unchecked_ref, refused_ref) = results
    assert spy.taken == 3
    assert diverged[0] == diverged_ref[0] == NONFINITE and diverged[1] == diverged_ref[1] < 6
    assert_same(diverged[2], diverged_ref[2], dtype, "costs")
    for got, expected in zip(diverged[3], diverged_ref[3]):
        assert_same(got, expected, dtype, "parameters")
    assert all(np.isfinite(p).all() for p in diverged[3])
    assert unchecked[:2] == unchecked_ref[:2] == (OK, 6) and not np.isfinite(unchecked[2]).all()
    assert_same(unchecked[2], unchecked_ref[2], dtype, "unchecked costs")
    assert refused[:2] == refused_ref[:2] == (BAD_LABEL, 0)


def test_the_public_api_takes_the_c_entries(spy):
    from fastnn import logreg, mlp

    X, Y, params = net(np.float64)
    parameters = dict(zip(("W1", "b1", "W2", "b2"), params))
    mlp.train_step(parameters, X, Y, 0.1, backend="numba")
    mlp.nn_model(X, Y, 3, num_iterations=3, random_state=0, backend="numba")
    logreg.propagate(np.zeros((3, 1)), 0.0, X, Y, backend="numba")
    assert (spy.taken, spy.refused) == (3, 0)


def test_a_failing_c_function_hands_the_call_to_the_dispatcher():
    """numba's C functions return 0 when the kernel raised: the call then goes back to the
    dispatcher (which raises the exception again) -- here a C function that returns 0."""
    ptr, i64 = ctypes.c_void_p, ctypes.c_longlong
    failing_step = ctypes.CFUNCTYPE(i64, *[ptr] * 6, i64, i64, i64, i64, ctypes.c_double, ptr, i64)(
        lambda *args: 0)
    failing_propagate = ctypes.CFUNCTYPE(i64, *[ptr] * 4, i64, i64, ptr, ptr)(lambda *args: 0)
    X, Y, params = net(np.float64)
    f64 = np.dtype(np.float64).num
    address = ctypes.cast(failing_step, ctypes.c_void_p).value
    assert numba_backend._fastpath.numba_mlp_descend(address, f64, X, Y, *params, 0.1, np.zeros(2)) is None
    address = ctypes.cast(failing_propagate, ctypes.c_void_p).value
    w, b = np.zeros((3, 1)), np.zeros(1)
    assert numba_backend._fastpath.numba_logreg_propagate(address, f64, w, b, X, Y) is None


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
            assert_same(got[1], expected[1], dtype, "dw")
            assert_same(got[2:], expected[2:], dtype, "db, cost")


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def misaligned(a):
    """A C-contiguous copy of ``a`` at an address one byte off its dtype's alignment."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    b = np.frombuffer(raw.data, a.dtype, a.size, offset=1).reshape(a.shape)
    b[...] = a
    assert not b.flags.aligned
    return b


REFUSED_MLP = {
    "float32 arrays, float64 kernel": lambda X, Y, p, c: (X.astype(np.float32), Y.astype(np.float32),
                                                          [q.astype(np.float32) for q in p], c),
    "fortran X": lambda X, Y, p, c: (np.asfortranarray(X), Y, p, c),
    "strided W1": lambda X, Y, p, c: (X, Y, [np.repeat(p[0], 2, axis=1)[:, ::2], *p[1:]], c),
    "read-only W2": lambda X, Y, p, c: (X, Y, [p[0], p[1], read_only(p[2]), p[3]], c),
    "wrong b1": lambda X, Y, p, c: (X, Y, [p[0], p[1][:-1].copy(), *p[2:]], c),
    "byte-swapped X": lambda X, Y, p, c: (X.astype(X.dtype.newbyteorder()), Y, p, c),
    "misaligned X": lambda X, Y, p, c: (misaligned(X), Y, p, c),
    "subclass X": lambda X, Y, p, c: (X.view(np.matrix), Y, p, c),
    "float32 Y": lambda X, Y, p, c: (X, Y.astype(np.float32), p, c),
    "wrong Y": lambda X, Y, p, c: (X, Y[:, :-1].copy(), p, c),
    "float32 costs": lambda X, Y, p, c: (X, Y, p, c.astype(np.float32)),
    "read-only costs": lambda X, Y, p, c: (X, Y, p, read_only(c)),
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


def test_read_only_inputs_take_the_c_step():
    X, Y, params = net(np.float64)
    address = numba_backend._c_entry(("mlp_descend", np.dtype(np.float64).num, 0, 1))
    r = numba_backend._fastpath.numba_mlp_descend(
        address, np.dtype(np.float64).num, read_only(X), read_only(Y), *params, 0.1, np.zeros(2))
    assert r == 2 * 4 + OK


def test_fastpath_refuses_logreg_arrays_the_c_function_cannot_read():
    f64 = np.dtype(np.float64).num
    address = numba_backend._c_entry(("logreg_propagate", f64))
    call = numba_backend._fastpath.numba_logreg_propagate
    X, Y, w, b = np.ones((3, 4)), np.ones((1, 4)), np.ones((3, 1)), np.zeros(1)
    assert call(address, f64, w, b, X, Y)[0] == OK
    assert call(address, f64, read_only(w), read_only(b), read_only(X), read_only(Y))[0] == OK
    assert call(0, f64, w, b, X, Y) is None
    assert call(address, f64, w, np.zeros(2), X, Y) is None
    assert call(address, f64, w, np.zeros((1, 1)), X, Y) is None
    assert call(address, f64, w, b, X, np.ones((1, 5))) is None
    assert call(address, f64, w, b, misaligned(X), Y) is None
    assert call(address, f64, w, b, X.astype(X.dtype.newbyteorder()), Y) is None
    assert call(address, f64, w, b.astype(np.float32), X, Y) is None
    assert call(address, f64, w[:2].copy(), b, X, Y) is None
    assert call(address, f64, w, b, X.T.copy().T, Y) is None
    assert call(address, np.dtype(np.float32).num, w, b, X, Y) is None


def test_no_c_entry_for_other_dtypes():
    assert numba_backend._c_entry(("logreg_propagate", np.dtype(np.int64).num)) == 0


# --- NumbaMlpDescent: small steps straight from fastnn._fastpath to their C entry ----------


class Recorder:
    """One of numba's Python functions (``_mlp_descend``, ``_logreg_propagate``) with its
    calls counted."""

    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)


def descend_with(steps, X, Y, params, lr=0.5, activation=0, check=True, n_threads=1, n_steps=6):
    params = [p.copy() for p in params]
    costs = np.full(n_steps, np.nan)
    return (*steps(X, Y, *params, lr, activation, costs, check, n_threads), costs, params)


def assert_identical(a, b):
    assert a[:2] == b[:2]
    for got, expected in zip(a[2:3] + tuple(a[3]), b[2:3] + tuple(b[3])):
        np.testing.assert_array_equal(got, expected)


def test_small_steps_run_their_registered_entry_without_python(dtype):
    """Until its entry is registered a step goes to the Python function; then it runs the
    C entry from here, bit for bit the same steps; other checks, activations, shapes at
    the team's threshold and arrays the entry cannot read still go to Python."""
    general = Recorder(numba_backend._mlp_descend)
    steps = numba_backend._fastpath.NumbaMlpDescent(general, numba_backend.MLP_TEAM_FROM)
    X, Y, params = net(dtype)
    typenum = np.dtype(dtype).num
    via_python = descend_with(steps, X, Y, params)
    assert general.calls == 1 and steps.entry(typenum, 0, True) == 0
    steps.register(typenum, 0, True, numba_backend._c_entry(("mlp_descend", typenum, 0, 1)))
    assert steps.entry(typenum, 0, True) and steps.entry(typenum, 0, False) == 0
    direct = descend_with(steps, X, Y, params)
    assert general.calls == 1
    assert direct[:2] == (OK, 6)
    assert_identical(direct, via_python)
    descend_with(steps, X, Y, params, check=False)
    descend_with(steps, X, Y, params, activation=1)
    descend_with(steps, X, Y, params, lr=np.float64(0.5))  # a float subclass
    assert general.calls == 4
    n_x, m = X.shape
    n_h, n_y = params[0].shape[0], params[2].shape[0]
    work = m * n_h * (2 * n_x + 2 * n_y + 16)
    at_threshold = numba_backend._fastpath.NumbaMlpDescent(general, work)
    at_threshold.register(typenum, 0, True, steps.entry(typenum, 0, True))
    assert_identical(descend_with(at_threshold, X, Y, params), via_python)
    assert general.calls == 5
    below = numba_backend._fastpath.NumbaMlpDescent(general, work + 1)
    below.register(typenum, 0, True, steps.entry(typenum, 0, True))
    descend_with(below, X, Y, params)
    assert general.calls == 5


@pytest.mark.parametrize("case", REFUSED_MLP)
def test_small_steps_hand_on_arrays_the_c_step_cannot_read(case):
    """The arrays ``numba_mlp_descend`` refuses go to the Python function untouched."""
    X, Y, params = net(np.float64)
    f64 = np.dtype(np.float64).num
    steps = numba_backend._fastpath.NumbaMlpDescent(lambda *args: "python", numba_backend.MLP_TEAM_FROM)
    steps.register(f64, 0, True, numba_backend._c_entry(("mlp_descend", f64, 0, 1)))
    X, Y, params, costs = REFUSED_MLP[case](X, Y, params, np.zeros(2))
    before = [p.copy() for p in params]
    assert steps(X, Y, *params, 0.1, 0, costs, True, 1) == "python"
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)


def test_small_steps_statuses_match_the_python_path(dtype):
    """Bad labels are refused (nothing written) and a diverging descent stops at the same
    step, as through the Python function."""
    X, Y, params = net(dtype)
    typenum = np.dtype(dtype).num
    general = Recorder(numba_backend._mlp_descend)
    steps = numba_backend._fastpath.NumbaMlpDescent(general, numba_backend.MLP_TEAM_FROM)
    for act, check in ((0, True), (1, True)):
        steps.register(typenum, act, check, numba_backend._c_entry(("mlp_descend", typenum, act, check)))
    bad = Y.copy()
    bad[0, 3] = 0.5
    refused = descend_with(steps, X, bad, params)
    assert refused[:2] == (BAD_LABEL, 0)
    for got, start in zip(refused[3], params):
        np.testing.assert_array_equal(got, start)
    big_X, huge = (X * 1e100, 1e200) if dtype == np.float64 else (X * dtype.type(1e12), 1e20)
    diverged = descend_with(steps, big_X, Y, params, lr=huge, activation=1)
    assert general.calls == 0
    assert diverged[0] == NONFINITE and diverged[1] < 6
    assert_identical(diverged, descend_with(numba_backend._mlp_descend, big_X, Y, params, lr=huge, activation=1))


def test_the_backend_registers_its_small_steps():
    """The backend's mlp_descend is the fast path's object in front of the Python function;
    a small step's first call registers its entry there."""
    steps = numba_backend.mlp_descend
    assert steps is numba_backend._small_steps
    assert steps.general is numba_backend._mlp_descend
    assert steps.team_from == numba_backend.MLP_TEAM_FROM
    X, Y, params = net(np.float64)
    f64 = np.dtype(np.float64).num
    assert descend_with(steps, X, Y, params, activation=2, check=False)[:2] == (OK, 6)
    assert steps.entry(f64, 2, False) == numba_backend._c_entry(("mlp_descend", f64, 2, 0)) != 0
    steps.register(f64, 7, True, 1)  # out of range: ignored, no crash
    assert steps.entry(f64, 7, True) == 0


# --- NumbaLogregPropagate: one-thread passes straight from fastnn._fastpath to their C entry


def logreg_case(dtype, n_x=7, m=45, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    return rng.standard_normal((n_x, 1)).astype(dtype), np.array([0.25], dtype), X, Y


def assert_same_pass(a, b):
    assert a[0] == b[0] and a[2:] == b[2:]
    np.testing.assert_array_equal(a[1], b[1])


def test_small_passes_run_their_registered_entry_without_python(dtype):
    """Until its entry is registered a pass goes to the Python function; then it runs the
    C entry from here, bit for bit the same pass; other dtypes, bad labels, arrays the
    entry cannot read and two threads on an X of ``threads_from`` bytes go to Python."""
    general = Recorder(numba_backend._logreg_propagate)
    passes = numba_backend._fastpath.NumbaLogregPropagate(general, numba_backend.LOGREG_STREAM_FROM)
    w, b, X, Y = logreg_case(dtype)
    typenum = np.dtype(dtype).num
    via_python = passes(w, b, X, Y, 1)
    assert general.calls == 1 and passes.entry(typenum) == 0
    passes.register(typenum, numba_backend._c_entry(("logreg_propagate", typenum)))
    direct = passes(w, b, X, Y, 2)
    assert general.calls == 1 and direct[0] == OK
    assert_same_pass(direct, via_python)
    other = np.float32 if dtype == np.float64 else np.float64
    passes(*(a.astype(other) for a in (w, b, X, Y)), 1)
    bad = Y.copy()
    bad[0, 3] = 0.5
    assert passes(w, b, X, bad, 1) == (BAD_LABEL, None, 0.0, 0.0)
    assert general.calls == 3
    at_threshold = numba_backend._fastpath.NumbaLogregPropagate(general, X.nbytes)
    at_threshold.register(typenum, passes.entry(typenum))
    assert_same_pass(at_threshold(w, b, X, Y, 2), via_python)
    assert general.calls == 4
    assert_same_pass(at_threshold(w, b, X, Y, 1), via_python)  # one thread: any size
    assert general.calls == 4


REFUSED_LOGREG = {
    "fortran X": lambda w, b, X, Y: (w, b, np.asfortranarray(X), Y),
    "misaligned X": lambda w, b, X, Y: (w, b, misaligned(X), Y),
    "byte-swapped X": lambda w, b, X, Y: (w, b, X.astype(X.dtype.newbyteorder()), Y),
    "float32 b": lambda w, b, X, Y: (w, b.astype(np.float32), X, Y),
    "2-D b": lambda w, b, X, Y: (w, b.reshape(1, 1), X, Y),
    "wrong w": lambda w, b, X, Y: (w[:-1].copy(), b, X, Y),
    "wrong Y": lambda w, b, X, Y: (w, b, X, Y[:, :-1].copy()),
    "subclass X": lambda w, b, X, Y: (w, b, X.view(np.matrix), Y),
}


@pytest.mark.parametrize("case", REFUSED_LOGREG)
def test_small_passes_hand_on_arrays_the_c_function_cannot_read(case):
    f64 = np.dtype(np.float64).num
    passes = numba_backend._fastpath.NumbaLogregPropagate(lambda *args: "python", numba_backend.LOGREG_STREAM_FROM)
    passes.register(f64, numba_backend._c_entry(("logreg_propagate", f64)))
    arrays = logreg_case(np.float64)
    assert passes(*arrays, 1)[0] == OK
    assert passes(*REFUSED_LOGREG[case](*arrays), 1) == "python"


def test_small_passes_statuses_match_the_python_path(dtype):
    general = Recorder(numba_backend._logreg_propagate)
    passes = numba_backend._fastpath.NumbaLogregPropagate(general, numba_backend.LOGREG_STREAM_FROM)
    typenum = np.dtype(dtype).num
    passes.register(typenum, numba_backend._c_entry(("logreg_propagate", typenum)))
    w, b, X, Y = logreg_case(dtype)
    w[2, 0] = np.inf
    got = passes(w, b, X, Y, 1)
    assert general.calls == 0 and got[0] == NONFINITE
    assert_same_pass(got, numba_backend._logreg_propagate(w, b, X, Y, 1))


def test_the_backend_registers_its_small_passes():
    """The backend's logreg_propagate is the fast path's object in front of the Python
    function; a pass's first call registers its entry there."""
    passes = numba_backend.logreg_propagate
    assert passes is numba_backend._small_passes
    assert passes.general is numba_backend._logreg_propagate
    assert passes.threads_from == numba_backend.LOGREG_STREAM_FROM
    w, b, X, Y = logreg_case(np.float64)
    f64 = np.dtype(np.float64).num
    assert passes(w, b, X, Y, 1)[0] == OK
    assert passes.entry(f64) == numba_backend._c_entry(("logreg_propagate", f64)) != 0
    passes.register(np.dtype(np.int64).num, 1)  # no entry for that dtype: ignored, no crash
    assert passes.entry(np.dtype(np.int64).num) == 0
