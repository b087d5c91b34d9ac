"""The compiled fast path of the validation layer (kernels/fastpath.pyx) decides exactly as
the Python predicates in fastnn/_validation.py that define it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IN_CI

from fastnn import _validation as v

try:
    from fastnn import _fastpath as compiled
except ImportError as exc:
    if IN_CI:
        raise
    pytest.skip(f"the compiled fast path is built by pip install: {exc}", allow_module_level=True)


def base(dtype=np.float64):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((3, 5)).astype(dtype)
    Y = (rng.rand(1, 5) > 0.5).astype(dtype)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in (("W1", (4, 3)), ("b1", (4, 1)), ("W2", (1, 4)), ("b2", (1, 1)))}
    return params, X, Y, rng.standard_normal((3, 1)).astype(dtype)


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


MUTATIONS = {
    "plain": lambda p, X, Y, w: (p, X, Y, w),
    "float32": lambda p, X, Y, w: base(np.float32),
    "mixed dtype": lambda p, X, Y, w: ({**p, "W1": p["W1"].astype(np.float32)}, X, Y, w.astype(np.float32)),
    "uint8 labels": lambda p, X, Y, w: (p, X, Y.astype(np.uint8), w),
    "fortran X": lambda p, X, Y, w: (p, np.asfortranarray(X), Y, w),
    "strided X": lambda p, X, Y, w: (p, np.repeat(X, 2, axis=1)[:, ::2], Y, w),
    "read-only W2": lambda p, X, Y, w: ({**p, "W2": read_only(p["W2"])}, X, Y, read_only(w)),
    "big-endian X": lambda p, X, Y, w: (p, X.astype(">f8"), Y, w),
    "subclass X": lambda p, X, Y, w: (p, X.view(np.matrix), Y, w),
    "list X": lambda p, X, Y, w: (p, X.tolist(), Y, w.tolist()),
    "rank-1 b1": lambda p, X, Y, w: ({**p, "b1": p["b1"][:, 0]}, X, Y, w[:, 0]),
    "wrong W1": lambda p, X, Y, w: ({**p, "W1": p["W1"][:, :2].copy()}, X, Y, w[:2].copy()),
    "wrong Y": lambda p, X, Y, w: (p, X, Y[:, :4].copy(), w),
    "m = 0": lambda p, X, Y, w: (p, X[:, :0].copy(), Y[:, :0].copy(), w),
    "extra key": lambda p, X, Y, w: ({**p, "W3": p["W1"]}, X, Y, w),
    "missing key": lambda p, X, Y, w: ({k: p[k] for k in ("W1", "b1", "W2")}, X, Y, w),
    "not a dict": lambda p, X, Y, w: (list(p.values()), X, Y, w),
    "None": lambda p, X, Y, w: (p, None, Y, None),
    "two outputs": lambda p, X, Y, w: ({**p, "W2": np.ones((2, 4)), "b2": np.ones((2, 1))}, X, np.vstack([Y, Y]), w),
}


def same(a, b):
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_compiled_guard_agrees_with_python(mutation):
    params, X, Y, w = MUTATIONS[mutation](*base())
    python = v.python_fast_mlp_arrays(params, X, Y)
    fast = compiled.mlp_arrays(params, X, Y)
    # the compiled guard leaves label casts to the Python one; otherwise it decides the same
    assert same(fast, python) or (fast is None and mutation == "uint8 labels" and python is not None)
    python = v.python_fast_logreg_arrays(w, X, Y)
    fast = compiled.logreg_arrays(w, X, Y)
    assert same(fast, python) or (fast is None and mutation == "uint8 labels" and python is not None)
