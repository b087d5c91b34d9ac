"""The large products of the compiled backends go to a BLAS: NumPy's own OpenBLAS when it
is found (``fastnn/_backends/_numpy_blas.py``), else SciPy's (cython) or register tiles
(numba).  Each route must give the float64 reference's step."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import require_backend
from tolerances import assert_close

import fastnn
from fastnn import mlp

#: sizes where the first layer's products take the BLAS route (n_h, n_x >= 48 for cython;
#: n_h >= 32, n_x, m >= 64 and n_x n_h m >= 2^22 for numba) -- and one just below
SIZES = [(784, 128, 1000), (100, 64, 700), (64, 48, 65), (47, 48, 50)]


@pytest.fixture(params=["numpy", "scipy"])
def cython_blas(request):
    """The cython backend routed to NumPy's OpenBLAS or to SciPy's, restored afterwards."""
    require_backend("cython")
    from fastnn._backends import _numpy_blas, cython

    found = _numpy_blas.cblas_gemm()
    if request.param == "numpy" and found is None:
        pytest.skip("this NumPy bundles no OpenBLAS with CBLAS ILP64 symbols")
    ddot = _numpy_blas.cblas_ddot() or 0
    cython._cykernels.set_cblas(*(found[:2] if request.param == "numpy" else (0, 0)), ddot)
    assert cython._cykernels.blas_in_use() == request.param
    yield request.param
    cython._cykernels.set_cblas(*(found[:2] if found else (0, 0)), ddot)


def _check_step(backend, dtype, n_x, n_h, m):
    rng = np.random.default_rng(n_x * n_h + m)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    params = mlp.initialize_parameters(n_x, n_h, 1, random_state=3, dtype=dtype)
    expected_cost, expected = ref.mlp_step(X, Y, params, 0.5)
    cost = mlp.train_step(params, X, Y, learning_rate=0.5, backend=backend)
    assert_close(cost, expected_cost, dtype, what="cost")
    for key in ("W1", "b1", "W2", "b2"):
        assert_close(params[key], expected[key], dtype, what=key)


@pytest.mark.parametrize("n_x,n_h,m", SIZES)
def test_cython_blas_routes_agree_with_reference(cython_blas, dtype, n_x, n_h, m):
    _check_step("cython", dtype, n_x, n_h, m)


@pytest.mark.parametrize("n_x,n_h,m", SIZES)
def test_numba_blas_route_agrees_with_reference(dtype, n_x, n_h, m):
    require_backend("numba")
    _check_step("numba", dtype, n_x, n_h, m)


def test_numpy_blas_found_on_wheels():
    """NumPy from PyPI bundles scipy-openblas64: the lookup must find it there (a silent
    fallback would bring back the second thread pool)."""
    import numpy

    from fastnn._backends import _numpy_blas

    if "openblas" not in str(numpy.show_config(mode="dicts").get("Build Dependencies", {})).lower():
        pytest.skip("this NumPy is not built with OpenBLAS")
    found = _numpy_blas.cblas_gemm()
    assert found is not None and found[0] and found[1]


@pytest.mark.parametrize("route", ["numpy", "own loop"])
def test_cython_long_dot_routes_agree_with_reference(two_kernel_threads, route):
    """A float64 dot long enough for threads runs NumPy's cblas_ddot (one thread pool) or,
    without it, the extension's threaded loop; both give the exact sum to ~1e-15."""
    require_backend("cython")
    from fastnn._backends import _numpy_blas, cython

    found, ddot = _numpy_blas.cblas_gemm(), _numpy_blas.cblas_ddot()
    if route == "numpy" and not (found and ddot):
        pytest.skip("this NumPy bundles no OpenBLAS with CBLAS ILP64 symbols")
    try:
        cython._cykernels.set_cblas(*(found[:2] if found else (0, 0)), ddot if route == "numpy" else 0)
        assert cython._cykernels.blas_dot_in_use() == (route == "numpy")
        _check_long_dot("cython", through_blas=route == "numpy" and cython.details()["openmp"])
    finally:
        cython._cykernels.set_cblas(*(found[:2] if found else (0, 0)), ddot or 0)


@pytest.mark.parametrize("route", ["numpy", "own loop"])
def test_numba_long_dot_routes_agree_with_reference(monkeypatch, two_kernel_threads, route):
    require_backend("numba")
    from fastnn._backends import numba as numba_backend

    if route == "numpy" and not (numba_backend.BLAS_DOT and numba_backend._PARALLEL):
        pytest.skip("no NumPy cblas_ddot found (or numba without threads)")
    monkeypatch.setattr(numba_backend, "BLAS_DOT", route == "numpy")
    _check_long_dot("numba", through_blas=route == "numpy")


def _check_long_dot(backend, through_blas):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(1_000_003), rng.standard_normal(1_000_003)
    exact = float(np.dot(a.astype(np.longdouble), b.astype(np.longdouble)))
    got = fastnn.dot(a, b, backend=backend)
    assert abs(got - exact) <= 1e-15 * float(np.dot(np.abs(a), np.abs(b)))
    # np.dot runs the same cblas_ddot with the same threads: bitwise the same sum, the
    # proof the route was taken (the own loops sum in another order)
    assert (got == np.dot(a, b)) == through_blas
    assert fastnn.dot(a[:1000], b[:1000], backend=backend) == pytest.approx(np.dot(a[:1000], b[:1000]), rel=1e-13)


def test_numpy_ddot_found_with_gemm():
    from fastnn._backends import _numpy_blas

    if _numpy_blas.cblas_gemm() is None:
        pytest.skip("this NumPy bundles no OpenBLAS with CBLAS ILP64 symbols")
    assert _numpy_blas.cblas_ddot()
