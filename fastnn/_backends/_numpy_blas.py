"""NumPy's own BLAS for the compiled backends: the addresses of its CBLAS ``?gemm``.

NumPy's wheels bundle an OpenBLAS (``scipy-openblas64``, ILP64: 64-bit integer arguments)
that ``np.dot`` itself uses.  The ``numba`` and ``cython`` kernels call the same library for
their large products, by symbol, so that a process holds one BLAS thread pool -- the one
threadpoolctl limits and NumPy already warmed up -- and no second OpenBLAS whose idle
threads keep spinning after each call and slow the other down (measured: the cython
backend's (784, 128, 1000) step, through SciPy's OpenBLAS interleaved with NumPy calls,
varied between 11 and 37 ms).  Without such a wheel (a distribution's NumPy), the
backends fall back: numba to its register tiles, cython to SciPy's BLAS.
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
def cblas_gemm() -> tuple[int, int, str] | None:
    """``(address of cblas_dgemm64_, address of cblas_sgemm64_, library path)`` of NumPy's
    bundled OpenBLAS, or None when NumPy has none we can find."""
    base = os.path.dirname(np.__file__)
    paths = sorted(glob.glob(os.path.join(base, os.pardir, "numpy.libs", "*openblas*"))
                   + glob.glob(os.path.join(base, ".dylibs", "*openblas*")))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            try:
                d, s = getattr(lib, prefix + "cblas_dgemm64_"), getattr(lib, prefix + "cblas_sgemm64_")
            except AttributeError:
                continue
            return (ctypes.cast(d, ctypes.c_void_p).value, ctypes.cast(s, ctypes.c_void_p).value,
                    os.path.realpath(path))
    return None
