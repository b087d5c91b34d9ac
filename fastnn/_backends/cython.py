"""The ``cython`` backend: ahead-of-time compiled kernels, built from ``kernels/`` by
``pip install`` into the extensions of :mod:`fastnn._cython`:

* ``logreg`` -- logistic regression's fused pass and its descent loop;
* ``mlp`` -- the 2-layer network's fused step (and the course's unfused pieces);
* ``ops`` -- ``sigmoid``, ``dot``, the course's cost, the update, the compiled fast checks
  of the validation layer, the build record.

Every kernel of the protocol (:mod:`fastnn._backends`) is an extension's own ``def``
function, re-exported as is: no Python frame between the caller and the compiled code,
which matters when a whole training step takes a few microseconds.  Threads follow
:mod:`fastnn.tuning`; the large layers' products go to NumPy's own OpenBLAS when it is
found (:mod:`fastnn._backends._numpy_blas`), else to the extensions' register tiles.
"""

from __future__ import annotations

import os

from fastnn._backends._numpy_blas import cblas_gemm, cblas_gemv
from fastnn._cython import logreg, mlp, ops
from fastnn._cython.logreg import logreg_descend, logreg_forward, logreg_propagate
from fastnn._cython.mlp import mlp_backward, mlp_descend, mlp_forward, mlp_gradients
from fastnn._cython.ops import (
    dot,
    fast_logreg_arrays,
    fast_mlp_arrays,
    mlp_cost,
    sgd_update,
    sigmoid,
)

__all__ = [
    "NAME", "VERSION", "details", "dot", "fast_logreg_arrays", "fast_mlp_arrays",
    "logreg_descend", "logreg_forward", "logreg_propagate", "mlp_backward", "mlp_cost",
    "mlp_descend", "mlp_forward", "mlp_gradients", "sgd_update", "sigmoid",
]  # fmt: skip

NAME = "cython"
VERSION = ops.build_info()["cython"]

_NUMPY_BLAS, _NUMPY_GEMV = cblas_gemm(), cblas_gemv()
if _NUMPY_BLAS is not None and _NUMPY_GEMV is not None:
    mlp.set_cblas(_NUMPY_BLAS[0], _NUMPY_BLAS[1])
    logreg.set_cblas(*_NUMPY_GEMV)


def details() -> dict:
    """How the extensions were built and what they run with: ``cython`` (the version they
    were compiled with), ``compiler``, ``cflags``, ``openmp``, ``debug``, ``simd`` (the
    instruction set the compiler targeted), ``libmvec``, ``max_threads`` (OpenMP's), and
    ``blas``: the BLAS of the large products, with its threads as threadpoolctl reports it."""
    info = ops.build_info()
    if _NUMPY_BLAS is None:
        info["blas"] = "none found: register tiles for every size"
        return info
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: lib.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
            for lib in threadpool_info()
            if os.path.realpath(str(lib.get("filepath", ""))) == _NUMPY_BLAS[2]
        ]
    except Exception as exc:  # threadpoolctl missing or failing: report, do not break
        info["blas"] = f"NumPy's OpenBLAS ({type(exc).__name__} from threadpoolctl: {exc})"
    return info
