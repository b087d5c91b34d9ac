"""Element-wise and vector ops: :func:`sigmoid` and the vectorization demo :func:`dot`."""

from __future__ import annotations

import math

from fastnn._backends import NONFINITE
from fastnn._dispatch import resolve
from fastnn._validation import as_array, c_array, compute_dtype, diagnose
from fastnn._validation import check_finite as _check_finite
from fastnn.tuning import get_num_threads


def sigmoid(z, *, backend: str | None = None, check_finite: bool = True):
    """The logistic function ``1 / (1 + e^-z)``, element-wise, stable for every finite z.

    ``z`` is a scalar or an array of any shape; the result has its shape and float dtype.

    >>> import fastnn
    >>> fastnn.sigmoid([0.0, 2.0], backend="numpy")
    array([0.5       , 0.88079708])
    """
    kernels = resolve(backend)
    z = as_array(z, "z")
    if check_finite:
        _check_finite(z, "z")
    z = c_array(z, z.dtype)
    out = kernels.sigmoid(z.reshape(-1)).reshape(z.shape)
    return out[()] if out.ndim == 0 else out


def dot(a, b, *, backend: str | None = None, check_finite: bool = True):
    """The inner product ``sum_i a[i] * b[i]`` of two 1-D vectors of equal length.

    The course's vectorization demo: the ``python`` backend is the for loop, ``numpy``
    is ``np.dot``.  A NaN or inf in ``a`` or ``b`` always makes the sum non-finite, so
    finiteness is checked on the result (no extra pass over the data).
    """
    kernels = resolve(backend)
    a = as_array(a, "a", 1)
    b = as_array(b, "b", 1)
    if a.shape != b.shape:
        raise ValueError(f"a has shape {a.shape} but b has shape {b.shape}: they must be equal")
    dtype = compute_dtype(a, b)
    a, b = c_array(a, dtype), c_array(b, dtype)
    result = kernels.dot(a, b, get_num_threads())
    if check_finite and not math.isfinite(result):
        diagnose(NONFINITE, {"a": a, "b": b})
    return dtype.type(result)
