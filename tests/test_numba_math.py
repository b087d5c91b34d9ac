"""Accuracy of the numba backend's vectorizable math (``fastnn._backends.numba.math``).

Each function runs inside a compiled loop (with the kernels' code-generation attributes,
so it is the vectorized code the kernels use) and is compared in ulps with a reference:
NumPy in ``np.longdouble`` (80-bit on x86) for float64, NumPy in float64 for float32.
The error is ``|got - ref| / spacing(ref)`` in the tested precision, so 0.5 is the
rounding of a correctly rounded result.

The largest errors over the test's points (250,000-270,000 per function and precision),
which the bounds asserted below leave a margin over:

=========  =================  =================
function   float64 max ulp    float32 max ulp
=========  =================  =================
exp        1.04               1.04
expm1      2.18               1.52
tanh       2.46               2.47
sigmoid    2.25               2.49
log1p      1.09               1.13
=========  =================  =================

(``expm1`` is the general function; tanh uses its ``k <= 0`` branch, where the
``2^k p + (2^k - 1)`` sum does not cancel.)

Special values follow IEEE / NumPy: ``+-0`` (sign kept where NumPy keeps it), subnormal
inputs and results, ``+-700``, ``+-1e300`` (float64), ``+-inf`` and NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from fastnn._backends.numba import math as nm  # noqa: E402

FUNCTIONS = ("exp", "expm1", "tanh", "sigmoid", "log1p")
#: Asserted bounds in ulps (measured values in the module docstring).
MAX_ULP = {
    ("exp", "float64"): 1.5, ("exp", "float32"): 1.5,
    ("expm1", "float64"): 3.0, ("expm1", "float32"): 2.0,
    ("tanh", "float64"): 3.0, ("tanh", "float32"): 3.0,
    ("sigmoid", "float64"): 3.0, ("sigmoid", "float32"): 3.0,
    ("log1p", "float64"): 1.5, ("log1p", "float32"): 1.5,
}


def _reference(name: str, x: np.ndarray, wide) -> np.ndarray:
    """The function in the wider precision ``wide`` (np.longdouble or np.float64)."""
    xw = x.astype(wide)
    with np.errstate(all="ignore"):
        if name == "exp":
            return np.exp(xw)
        if name == "expm1":
            return np.expm1(xw)
        if name == "tanh":
            return np.tanh(xw)
        if name == "sigmoid":
            # stable in the wide precision: exp(-|x|) never overflows
            e = np.exp(-np.abs(xw))
            return np.where(xw >= 0, 1 / (1 + e), e / (1 + e))
        if name == "log1p":
            return np.log1p(xw)
    raise AssertionError(name)


_LOOPS: dict = {}


def _compiled(name: str):
    """A compiled elementwise loop around ``nm.<name>`` (vectorized as in the kernels)."""
    if name not in _LOOPS:
        fn = getattr(nm, name)

        @numba.njit(error_model="numpy", fastmath={"reassoc", "contract", "arcp", "nsz"})
        def loop(x, out):
            for i in range(x.size):
                out[i] = fn(x[i])

        _LOOPS[name] = loop
    return _LOOPS[name]


def _evaluate(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _compiled(name)(x, out)
    return out


def _ulp_error(got: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """``|got - ref|`` in units of the spacing of ``ref`` in ``dtype`` (0 where both are
    the same special value)."""
    info = np.finfo(dtype)
    ref_t = ref.astype(dtype)  # rounded reference, for the spacing
    same = (got == ref_t) | (np.isnan(got) & np.isnan(ref_t))
    finite = np.isfinite(ref_t) & np.isfinite(got)
    spacing = np.maximum(np.spacing(np.abs(ref_t)), info.smallest_subnormal).astype(ref.dtype)
    err = np.abs(got.astype(ref.dtype) - ref) / spacing
    return np.where(same, 0.0, np.where(finite, err, np.inf)).astype(np.float64)


def _domain(name: str, dtype, rng) -> np.ndarray:
    big = 700.0 if dtype == np.float64 else 85.0
    parts = [
        rng.uniform(-1, 1, 50_000),
        rng.uniform(-40, 40, 100_000),
        rng.uniform(-big * 1.07, big * 1.02, 50_000),
        np.ldexp(1.0, -rng.integers(1, 60, 20_000)) * rng.choice([-1, 1], 20_000),
        10.0 ** rng.uniform(-300 if dtype == np.float64 else -37, 300 if dtype == np.float64 else 37, 30_000),
    ]
    x = np.concatenate(parts).astype(dtype)
    if name in ("log1p",):
        x = np.concatenate([np.abs(x), rng.uniform(-1, 0, 20_000).astype(dtype)])
    return x[np.isfinite(x)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_accuracy_in_ulps(name, dtype):
    rng = np.random.default_rng(20240607)
    x = _domain(name, dtype, rng)
    wide = np.longdouble if dtype == np.float64 else np.float64
    got = _evaluate(name, x)
    assert got.dtype == x.dtype
    ref = _reference(name, x, wide)
    # results that are representable in dtype (drop reference overflow past its range)
    ok = np.abs(ref) <= np.finfo(dtype).max
    err = _ulp_error(got[ok], ref[ok], dtype)
    worst = int(np.argmax(err))
    bound = MAX_ULP[(name, np.dtype(dtype).name)]
    assert err.max() <= bound, (
        f"{name}({x[ok][worst]!r}) = {got[ok][worst]!r}, reference {ref[ok][worst]!r}: "
        f"{err.max():.2f} ulp > {bound}"
    )


def _special(dtype):
    big = 1e300 if dtype == np.float64 else 1e38
    vals = [0.0, -0.0, 1e-310 if dtype == np.float64 else 1e-40, -1e-310 if dtype == np.float64 else -1e-40,
            700.0, -700.0, big, -big, np.inf, -np.inf, np.nan, 1e-20, -1e-20]
    return np.array(vals, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_match_numpy(name, dtype):
    x = _special(dtype)
    if name == "log1p":
        x = np.concatenate([x, np.array([-1.0, -2.0, 1.0], dtype)])
    got = _evaluate(name, x)
    wide = np.longdouble if dtype == np.float64 else np.float64
    ref = _reference(name, x, wide)
    with np.errstate(all="ignore"):
        ref_t = ref.astype(dtype)
    for i in range(x.size):
        xi, g, r = x[i], got[i], ref_t[i]
        if np.isnan(r):
            assert np.isnan(g), f"{name}({xi!r}) = {g!r}, expected NaN"
        elif np.isinf(r) or r == 0:
            assert g == r, f"{name}({xi!r}) = {g!r}, expected {r!r}"
            if name in ("exp", "sigmoid", "tanh", "expm1", "log1p"):
                # the sign of a zero result follows NumPy
                assert np.signbit(g) == np.signbit(r), f"{name}({xi!r}) = {g!r}, expected {r!r}"
        else:
            err = _ulp_error(got[i:i + 1], ref[i:i + 1], dtype)[0]
            assert err <= MAX_ULP[(name, np.dtype(dtype).name)], (name, xi, g, r, err)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_limits_of_the_logistic_pieces(dtype):
    """No NaN for any finite input; sigmoid(+-large) is 1 / 0 exactly; the fused
    ``logistic_parts`` gives ``sigmoid(z)`` exactly and ``(e, h)`` with
    ``h + log1p(e) = softplus((1 - 2y) z)``."""
    z = np.array([-1e30, -800.0, -745.0, -100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0, 800.0, 1e30], dtype)
    if dtype == np.float32:
        z = z.astype(np.float64).clip(-3e38, 3e38).astype(dtype)
    s = _evaluate("sigmoid", z)
    assert not np.isnan(s).any()
    assert s[0] == 0.0 and s[-1] == 1.0
    assert s[5] < 0.5 < s[7] and s[6] == 0.5
    assert _evaluate("tanh", np.array([np.inf, -np.inf, 1e30], dtype)).tolist() == [1.0, -1.0, 1.0]

    @numba.njit(error_model="numpy")
    def fused(z, y, a, e, h):
        for i in range(z.size):
            a[i], e[i], h[i] = nm.logistic_parts(z[i], y[i])

    for label in (0.0, 1.0):
        y = np.full_like(z, label)
        a, e, h = (np.empty_like(z) for _ in range(3))
        fused(z, y, a, e, h)
        np.testing.assert_array_equal(a, s)
        np.testing.assert_array_equal(e, _evaluate("exp", -np.abs(z)))
        softplus = np.logaddexp(0.0, (1 - 2 * label) * z.astype(np.float64)).astype(dtype)
        info = np.finfo(dtype)
        np.testing.assert_allclose(h + _evaluate("log1p", e), softplus, rtol=4 * info.eps,
                                   atol=4 * info.smallest_subnormal)


@numba.njit(error_model="numpy")
def _sum_log1p(E, n):
    return nm.sum_log1p(E, n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 511, 512, 513, 1031, 5000])
def test_sum_log1p_is_the_sum_of_the_log1p(dtype, n):
    """``sum_log1p(E, n) = sum_k log1p(E[k])`` (float64) within ``(2n + 8) 2^-53``
    relative: the running products (eight lanes, chunks of 512) only add positive terms.
    Values from 1 down to 1e-300 (1e-40 in float32, subnormals included), many exact 0;
    the columns past ``n`` are never read (NaN there)."""
    rng = np.random.default_rng(n)
    tiny = 1e-300 if dtype == np.float64 else 1e-40
    e = np.exp(rng.uniform(np.log(tiny), 0.0, n + 3)).astype(dtype)
    e[rng.random(n + 3) < 0.2] = 0.0
    e[n:] = np.nan
    got = _sum_log1p(e, n)
    ref = float(np.sum(np.log1p(e[:n].astype(np.longdouble))))
    assert abs(got - ref) <= (2 * n + 8) * 2.0**-53 * ref
    if n:   # the smallest terms still count: a sum of tiny values alone
        small = np.full(n, tiny, dtype)
        assert _sum_log1p(small, n) == pytest.approx(n * float(small[0]), rel=(2 * n + 8) * 2.0**-53)


def test_tanh_keeps_relative_accuracy_near_zero():
    """The expm1 form: ``tanh(x) = x (1 - x^2/3 + ...)`` to the last bit for tiny x, where
    ``(1 - e) / (1 + e)`` would cancel."""
    x = np.array([1e-300, 1e-200, 1e-30, 1e-17, 1e-9, 3e-8, 1e-5], np.float64)
    got = _evaluate("tanh", x)
    ref = _reference("tanh", x, np.longdouble)
    assert _ulp_error(got, ref, np.float64).max() <= 1.0
    assert np.array_equal(_evaluate("tanh", -x), -got)


def test_loops_vectorize():
    """The point of the module: a loop over ``tanh`` compiles to packed SIMD arithmetic
    (no libm call) on x86 hosts with AVX."""
    if "+avx" not in nm.HOST_FEATURES:
        pytest.skip("no AVX on this host")
    x = np.linspace(-3, 3, 64)
    _evaluate("tanh", x)
    loop = _compiled("tanh")
    float64 = next(sig for sig in loop.signatures if sig[0].dtype == numba.float64)  # tests may compile float32 first
    asm = loop.inspect_asm(float64)
    packed = [line for line in asm.splitlines() if "pd\t" in line and ("%ymm" in line or "%zmm" in line)]
    assert len(packed) > 10
