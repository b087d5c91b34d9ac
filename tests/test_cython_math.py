"""Accuracy of the cython backend's ``tanh`` (``fnn_tanh`` / ``fnn_tanhf`` in
``kernels/vecmath.h``: an inlined expm1 polynomial instead of a libmvec call), in ulps of
the result's dtype against NumPy in ``np.longdouble``, through the kernels' own loop: the
hidden layer of a one-unit network with ``W1 = 1``, ``b1 = 0``, so that ``A1 = tanh(X)``.

Measured here (x86-64, AVX-512, AMD Zen 5; 550,000 random points at scales from the
smallest normal to 30): float64 at most 2.56 ulp (the libmvec-expm1 form it replaced,
3.46 ulp); float32 2.47 ulp (libmvec's tanhf, which it replaced, 1.36 ulp; the numba
backend's float32 tanh, the same method, 2.45).

And the float32 kernels compute in float32: Cython writes a bare ``1`` in ``floating``
arithmetic as the C double ``1.0``, which turns a float32 expression into a float64 one
(``kernels/cykernels.pyx``, "Scalar math").
"""

from __future__ import annotations

import re
import shutil
import subprocess

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


@pytest.fixture(scope="module")
def cython():
    return require_backend("cython")


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
def test_tanh_accuracy_in_ulps(cython, dtype):
    rng = np.random.default_rng(20261127)
    x = np.concatenate([rng.standard_normal(50_000) * s for s in SCALES[dtype]]).astype(dtype)
    err = _ulp_error(_tanh(x, cython), x)
    worst = int(np.argmax(err))
    assert err.max() <= MAX_ULP, f"tanh({x[worst]!r}): {err.max():.2f} ulp > {MAX_ULP}"


@DTYPES
def test_tanh_is_odd_and_exact_near_zero(cython, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([tiny, 1e-30, 1e-17, 1e-9, 3e-8, 1e-5, 0.3, 2.0, 8.0], dtype)
    got = _tanh(x, cython)
    np.testing.assert_array_equal(got[:4], x[:4])  # tanh(x) rounds to x below 1e-9
    # float32: the -t / (2 + t) of 2 + t rounded to 24 bits costs up to ~2 ulp near 0
    assert _ulp_error(got, x).max() <= (1.0 if dtype == np.float64 else MAX_ULP)
    np.testing.assert_array_equal(_tanh(-x, cython), -got)


@DTYPES
def test_tanh_special_values(cython, dtype):
    big = np.finfo(dtype).max
    x = np.array([0.0, 20.0, 20.5, -25.0, big, -big, np.inf, -np.inf, np.nan], dtype)
    got = _tanh(x, cython)
    assert got[:-1].tolist() == [0.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
    assert np.isnan(got[-1])


def test_float32_kernels_divide_in_float32(cython):
    """No double division in the float32 specializations (``__pyx_fuse_0``): the sigmoid
    written ``1 / (1 + e)`` compiled to vdivpd there (the double constants together: 20% of
    a float32 (2, 4, 4000) step, one thread)."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    from fastnn import _cykernels

    asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", _cykernels.__file__], capture_output=True,
                         text=True, check=True).stdout
    function, offenders = None, set()
    for line in asm.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if head:
            function = head.group(1)
        elif function and "__pyx_fuse_0" in function and re.search(r"\bv?divpd\b", line):
            offenders.add(function)
    assert "__pyx_fuse_0" in asm
    assert not offenders, f"float32 kernels dividing in float64: {sorted(offenders)}"
