"""The ``cython`` backend: ahead-of-time compiled kernels (the extension ``fastnn._cykernels``,
built from ``kernels/cykernels.pyx`` by ``pip install``).

Every kernel of the protocol (:mod:`fastnn._backends`) is the extension's own function,
re-exported as is: no Python frame between the caller and the compiled code, which matters
when a whole training step takes a few microseconds.  The design of the fused kernels is
in the extension's docstring (``help(fastnn._cykernels)``).
"""

from __future__ import annotations

import os

from fastnn import _cykernels
from fastnn._backends._numpy_blas import cblas_ddot, cblas_gemm
from fastnn._cykernels import (
    dot,
    logreg_descend,
    logreg_forward,
    logreg_propagate,
    mlp_backward,
    mlp_cost,
    mlp_descend,
    mlp_forward,
    sgd_update,
    sigmoid,
)

__all__ = [
    "NAME",
    "VERSION",
    "details",
    "dot",
    "logreg_descend",
    "logreg_forward",
    "logreg_propagate",
    "mlp_backward",
    "mlp_cost",
    "mlp_descend",
    "mlp_forward",
    "sgd_update",
    "sigmoid",
]

NAME = "cython"
VERSION = _cykernels.build_info()["cython"]

# the large products (and a long float64 dot) go to NumPy's own OpenBLAS when it is found
# (one BLAS thread pool in the process, see _numpy_blas), else to SciPy's (own loop: dot)
_NUMPY_BLAS = cblas_gemm()
if _NUMPY_BLAS is not None:
    _cykernels.set_cblas(_NUMPY_BLAS[0], _NUMPY_BLAS[1], cblas_ddot() or 0)


def details() -> dict:
    """How the extension was built and what it runs with.

    ``cython`` (the version it was compiled with), ``compiler``, ``cflags`` (the flags of
    the build: ``-march=native`` unless ``FASTNN_PORTABLE=1``, ...), ``openmp``, ``debug``,
    ``simd`` (the instruction set the compiler targeted: AVX-512, AVX2, SSE2, NEON, ...),
    ``libmvec`` (vector exp/tanh/log1p from glibc), ``max_threads`` (OpenMP's),
    ``tuning`` (the measured block sizes and thresholds), and ``blas``: the BLAS the large
    products call (NumPy's OpenBLAS when found, else SciPy's), with its thread count as
    threadpoolctl reports it; ``blas_dot``: whether a long float64 ``dot`` calls NumPy's
    ``cblas_ddot`` (else the extension's own threaded loop).
    """
    info = _cykernels.build_info()
    info["tuning"] = _cykernels.tuning()
    info["blas_dot"] = bool(_cykernels.blas_dot_in_use() and info.get("openmp"))
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: lib.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
            for lib in threadpool_info()
            if lib.get("user_api") == "blas" and _is_in_use(str(lib.get("filepath", "")))
        ]
    except Exception as exc:  # threadpoolctl missing or failing: report, do not break
        info["blas"] = f"unknown ({type(exc).__name__}: {exc})"
    return info


def _is_in_use(path: str) -> bool:
    """Is this BLAS library (a threadpoolctl file path) the one the kernels call?"""
    if _NUMPY_BLAS is not None:
        return os.path.realpath(path) == _NUMPY_BLAS[2]
    return "scipy.libs" in path
