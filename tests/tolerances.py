"""The agreement every backend owes the float64 reference (DESIGN.md, "Numerics")."""

from __future__ import annotations

import numpy as np

#: relative tolerance, and absolute tolerance as a fraction of the largest |expected|
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
#: whole fits compound rounding over many steps
FIT_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 2e-4}


def assert_close(actual, expected, dtype, rtol=None, what=""):
    dtype = np.dtype(dtype)
    rtol = RTOL[dtype] if rtol is None else rtol
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(
        actual.astype(np.float64), expected, rtol=rtol, atol=rtol * scale, err_msg=what
    )
