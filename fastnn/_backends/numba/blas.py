"""NumPy's own BLAS, called from the kernels: the large layers' two big products (and
logistic regression's two matrix-vector products on a large ``X``).

At MNIST-like sizes (``784 x 128 x 1000``) the step is two large matrix products, and an
optimized BLAS does them near the core's peak where register tiles do not.  The kernels
call the OpenBLAS that NumPy's wheels bundle (found by :mod:`fastnn._backends._numpy_blas`),
by symbol: one BLAS thread pool in the process, the one ``np.dot`` uses and threadpoolctl
limits, instead of a second one (numba's ``np.dot`` would call SciPy's) whose idle threads
spin against the first.  The symbols are registered with LLVM under fastnn's own names, so
that compiled kernels cached on disk find them again in the next process.

Where NumPy has no such BLAS, :data:`AVAILABLE` is False and the kernels use
:mod:`.products` for every size; the symbols then name a stub that is never called.
"""

from __future__ import annotations

import ctypes

import llvmlite.binding as llb
import numpy as np
from numba import njit, types

from fastnn._backends._numpy_blas import NO_TRANS, ROW_MAJOR, TRANS, cblas_gemm, cblas_gemv
from fastnn._backends.numba.math import HELPER


def _register() -> bool:
    gemm, gemv = cblas_gemm(), cblas_gemv()
    if gemm is None or gemv is None:
        stub = ctypes.CFUNCTYPE(None)(lambda: None)
        _register.stub = stub  # kept alive: its address is registered
        gemm = gemv = (ctypes.cast(stub, ctypes.c_void_p).value,) * 2
    for name, address in zip(("dgemm", "sgemm", "dgemv", "sgemv"), (*gemm[:2], *gemv)):
        llb.add_symbol(f"fastnn_cblas_{name}64", address)
    return gemm[0] != gemm[1]


#: Whether the big products can go to NumPy's BLAS.
AVAILABLE = _register()

_i64, _int, _ptr = types.int64, types.intc, types.intp
_dgemm = types.ExternalFunction("fastnn_cblas_dgemm64", types.void(
    _int, _int, _int, _i64, _i64, _i64, types.float64, _ptr, _i64, _ptr, _i64, types.float64, _ptr, _i64))
_sgemm = types.ExternalFunction("fastnn_cblas_sgemm64", types.void(
    _int, _int, _int, _i64, _i64, _i64, types.float32, _ptr, _i64, _ptr, _i64, types.float32, _ptr, _i64))


_dgemv = types.ExternalFunction("fastnn_cblas_dgemv64", types.void(
    _int, _int, _i64, _i64, types.float64, _ptr, _i64, _ptr, _i64, types.float64, _ptr, _i64))
_sgemv = types.ExternalFunction("fastnn_cblas_sgemv64", types.void(
    _int, _int, _i64, _i64, types.float32, _ptr, _i64, _ptr, _i64, types.float32, _ptr, _i64))


@njit(**HELPER)
def matvec(trans, A, x, y):
    """``y = A x`` (NO_TRANS) or ``y = A.T x`` (TRANS), ``A`` C-contiguous, ``x``, ``y`` contiguous."""
    M, N = A.shape
    if A.itemsize == 8:
        _dgemv(ROW_MAJOR, trans, M, N, 1.0, A.ctypes.data, N, x.ctypes.data, 1, 0.0, y.ctypes.data, 1)
    else:
        one, zero = np.float32(1.0), np.float32(0.0)
        _sgemv(ROW_MAJOR, trans, M, N, one, A.ctypes.data, N, x.ctypes.data, 1, zero, y.ctypes.data, 1)


@njit(**HELPER)
def _gemm(trans_b, M, N, K, A, lda, B, b_offset, ldb, C, ldc):
    """Row-major ``C[:M, :N] += A[:M, :K] op(B)`` from element ``b_offset`` of ``B``."""
    b = B.ctypes.data + b_offset * B.itemsize
    if A.itemsize == 8:
        _dgemm(ROW_MAJOR, NO_TRANS, trans_b, M, N, K, 1.0, A.ctypes.data, lda, b, ldb, 1.0,
               C.ctypes.data, ldc)
    else:
        one = np.float32(1.0)
        _sgemm(ROW_MAJOR, NO_TRANS, trans_b, M, N, K, one, A.ctypes.data, lda, b, ldb, one,
               C.ctypes.data, ldc)


@njit(**HELPER)
def linear(W, b, X, c0, n, Out):
    """``Out[:n_out, :n] = W X[:, c0:c0+n] + b`` (as :func:`.products.linear`)."""
    n_out, n_in = W.shape
    for j in range(n_out):
        for i in range(n):
            Out[j, i] = b[j, 0]
    _gemm(NO_TRANS, n_out, n, n_in, W, n_in, X, c0, X.shape[1], Out, Out.shape[1])


@njit(**HELPER)
def add_outer(D, X, c0, n, G):
    """``G += D[:, :n] X[:, c0:c0+n].T`` (as :func:`.products.add_outer`)."""
    _gemm(TRANS, G.shape[0], X.shape[0], n, D, D.shape[1], X, c0, X.shape[1], G, G.shape[1])
