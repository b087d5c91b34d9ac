"""Accuracy of the compiled backends' ``tanh`` and ``sigmoid``, through the public API
(the hidden layer of a one-unit network with ``W1 = 1``, ``b1 = 0``, so ``A1 = tanh(X)``:
the kernels' own vectorized loop), in ulps of the result's dtype against NumPy in
``np.longdouble``; odd symmetry, exactness near 0, and special values.  Both backends
compute tanh from an ``expm1`` polynomial (the numba backend in :mod:`fastnn._backends.numba.math`,
the cython backend in ``kernels/fastnn_math.h``): at most about 2.5 ulp in both dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_backend

import fastnn

MAX_ULP = 3.0
SCALES = {
    np.float64: (1e-300, 1e-12, 1e-6, 1e-3, 0.1, 0.5, 1.0, 3.0, 10.0, 19.0, 30.0),
    np.float32: (1e-37, 1e-12, 1e-6, 1e-3, 0.1, 0.5, 1.0, 3.0, 8.0, 9.5, 30.0),
}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@pytest.fixture(params=["numba", "cython"])
def compiled(request):
    return require_backend(request.param)


def _tanh(x, backend):
    one = np.ones((1, 1), x.dtype)
    params = {"W1": one, "b1": np.zeros((1, 1), x.dtype), "W2": one, "b2": np.zeros((1, 1), x.dtype)}
    _, cache = fastnn.mlp.forward_propagation(x.reshape(1, -1), params, backend=backend,
                                              check_finite=False)
    assert cache["A1"].dtype == x.dtype
    return cache["A1"][0]


def _ulp_error(got, x):
    ref = np.tanh(x.astype(np.longdouble))
    spacing = np.spacing(np.abs(ref).astype(x.dtype)).astype(np.longdouble)
    return (np.abs(got.astype(np.longdouble) - ref) / spacing).astype(float)


@DTYPES
def test_tanh_accuracy_in_ulps(compiled, dtype):
    rng = np.random.default_rng(20261127)
    x = np.concatenate([rng.standard_normal(50_000) * s for s in SCALES[dtype]]).astype(dtype)
    err = _ulp_error(_tanh(x, compiled), x)
    worst = int(np.argmax(err))
    assert err.max() <= MAX_ULP, f"tanh({x[worst]!r}): {err.max():.2f} ulp > {MAX_ULP}"


@DTYPES
def test_tanh_is_odd_and_exact_near_zero(compiled, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([tiny, 1e-30, 1e-17, 1e-9, 3e-8, 1e-5, 0.3, 2.0, 8.0], dtype)
    got = _tanh(x, compiled)
    np.testing.assert_array_equal(got[:4], x[:4])  # tanh(x) rounds to x below 1e-9
    # float32: the -t / (2 + t) of 2 + t rounded to 24 bits costs up to ~2 ulp near 0
    assert _ulp_error(got, x).max() <= (1.0 if dtype == np.float64 else MAX_ULP)
    np.testing.assert_array_equal(_tanh(-x, compiled), -got)


@DTYPES
def test_tanh_special_values(compiled, dtype):
    big = np.finfo(dtype).max
    x = np.array([0.0, 20.0, 20.5, -25.0, big, -big, np.inf, -np.inf, np.nan], dtype)
    got = _tanh(x, compiled)
    assert got[:-1].tolist() == [0.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
    assert np.isnan(got[-1])


@DTYPES
def test_sigmoid_accuracy_and_limits(compiled, dtype):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(20_000) * s for s in (0.1, 3.0, 30.0)]).astype(dtype)
    got = fastnn.sigmoid(x, backend=compiled)
    xl = x.astype(np.longdouble)
    ref = 1 / (1 + np.exp(-xl))
    spacing = np.spacing(np.abs(ref).astype(dtype)).astype(np.longdouble)
    assert float((np.abs(got.astype(np.longdouble) - ref) / spacing).max()) <= MAX_ULP
    edges = fastnn.sigmoid(np.array([-np.inf, -1e30, 0.0, 1e30, np.inf], dtype), backend=compiled,
                           check_finite=False)
    assert edges.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
