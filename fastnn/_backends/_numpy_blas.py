"""NumPy's own BLAS for the compiled backends: the addresses of its CBLAS ``?gemm``, ``?gemv``.

NumPy's wheels bundle an OpenBLAS (``scipy-openblas64``, ILP64: 64-bit integer arguments)
that ``np.dot`` itself uses.  The ``numba`` and ``cython`` kernels call the same library for
their large products (and a long float64 ``dot``), by symbol, so that a process holds one
BLAS thread pool -- the one threadpoolctl limits and NumPy already warmed up -- and no
second pool whose idle threads keep spinning after each call and slow the other down
(measured: the cython backend's (784, 128, 1000) step, through SciPy's OpenBLAS
interleaved with NumPy calls, varied between 11 and 37 ms).  Without such a wheel (a
distribution's NumPy), the backends fall back: numba to its register tiles, cython to
SciPy's BLAS, and both to their own threaded loop for ``dot``.
"""

from __future__ import annotations

import ctypes
import glob
import os
from functools import cache

import numpy as np

#: CBLAS constants (row-major layout, no transpose, transpose).
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


@cache
def _openblas() -> tuple[ctypes.CDLL, str, str] | None:
    """``(library, symbol prefix, path)`` of NumPy's bundled OpenBLAS with CBLAS ILP64
    symbols, or None when NumPy has none we can find."""
    base = os.path.dirname(np.__file__)
    paths = sorted(glob.glob(os.path.join(base, os.pardir, "numpy.libs", "*openblas*"))
                   + glob.glob(os.path.join(base, ".dylibs", "*openblas*")))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            if hasattr(lib, prefix + "cblas_dgemm64_"):
                return lib, prefix, os.path.realpath(path)
    return None


def _address(name: str) -> int | None:
    """The address of CBLAS function ``name`` (``cblas_ddot64_``, ...) in NumPy's OpenBLAS."""
    found = _openblas()
    if found is None or not hasattr(found[0], found[1] + name):
        return None
    return ctypes.cast(getattr(found[0], found[1] + name), ctypes.c_void_p).value


def cblas_gemm() -> tuple[int, int, str] | None:
    """``(address of cblas_dgemm64_, address of cblas_sgemm64_, library path)`` of NumPy's
    bundled OpenBLAS, or None when NumPy has none we can find."""
    d, s = _address("cblas_dgemm64_"), _address("cblas_sgemm64_")
    return (d, s, _openblas()[2]) if d and s else None


def cblas_gemv() -> tuple[int, int] | None:
    """``(address of cblas_dgemv64_, address of cblas_sgemv64_)`` of NumPy's bundled
    OpenBLAS (what ``np.dot`` of a matrix and a vector runs), or None."""
    d, s = _address("cblas_dgemv64_"), _address("cblas_sgemv64_")
    return (d, s) if d and s else None
