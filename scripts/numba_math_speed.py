"""Nanoseconds per element of numba's own transcendentals (``fastnn._backends._numba_math``)
in the vectorized loops the kernels run, beside NumPy's ufuncs on the same arrays, and the
share of the logistic loss in numba's planar training step.

    python scripts/numba_math_speed.py [n] [float32]     # default 40000 float64

Each function runs in its own ``@njit`` loop over ``n`` elements (``z`` ~ 3 N(0, 1), labels
in {0, 1}), with the kernels' code-generation options; rows are interleaved over rounds and
the medians of the rounds' medians printed.  The last lines time ``mlp_descend`` on the
planar data (2, 4, 400) through numba's step kernel and through a copy of it whose output
layer skips the loss (``logistic_parts`` gives ``dZ2 = Z2 - Y`` and ``sum_log1p`` zero): the
difference is what the loss costs a step.
"""

from __future__ import annotations

import sys
import time
import types

import numpy as np
from numba import njit

from fastnn import datasets, mlp
from fastnn._backends import _numba_math as nm
from fastnn._backends import numba as nb
from fastnn.bench.timing import median, settle


def _loop(fn, nargs):
    """An ``@njit`` loop ``out[k] = fn(z[k])`` (or ``fn(z[k], y[k])``, first result)."""
    if nargs == 1:
        def body(z, y, out):
            nb._prefer_wide_vectors()
            for k in range(z.size):
                out[k] = fn(z[k])
    else:
        def body(z, y, out):
            nb._prefer_wide_vectors()
            for k in range(z.size):
                p, e, h = fn(z[k], y[k])
                out[k] = p + e + h
    return njit(**dict(nb._JIT, cache=False))(body)


@njit(**dict(nb._JIT, cache=False))
def _sum_log1p_loop(z, y, out):
    """``sum_log1p`` over the labels (values in [0, 1]), its result in ``out[0]``."""
    out[0] = nm.sum_log1p(y.reshape(1, -1), y.size)


FUNCTIONS = {  # name: (numba loop, NumPy equivalent or None)
    "exp": (_loop(nm.exp, 1), lambda z, y, out: np.exp(z, out=out)),
    "tanh": (_loop(nm.tanh, 1), lambda z, y, out: np.tanh(z, out=out)),
    "sigmoid": (_loop(nm.sigmoid, 1), None),
    "log1p": (_loop(nm.log1p, 1), lambda z, y, out: np.log1p(z, out=out)),
    "logistic_parts": (_loop(nm.logistic_parts, 2), None),
    "sum_log1p": (_sum_log1p_loop, lambda z, y, out: np.log1p(y, out=out).sum()),
}


def _per_element(fn, z, y, out, rounds):
    fn(z, y, out)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn(z, y, out)
        times.append(time.perf_counter() - t)
    return median(times) * 1e9 / z.size


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv and argv[0].isdigit() else 40000
    dtype = np.float32 if "float32" in argv else np.float64
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(n) * 3).astype(dtype)
    y = (rng.random(n) > 0.5).astype(dtype)
    out = np.empty_like(z)
    positive = np.abs(z)
    rows: dict[str, list[float]] = {}
    for _ in range(7):
        for name, (loop, ufunc) in FUNCTIONS.items():
            arg = positive if name == "log1p" else z
            settle()
            rows.setdefault(f"numba {name}", []).append(_per_element(loop, arg, y, out, 50))
            if ufunc is not None:
                rows.setdefault(f"numpy {name}", []).append(_per_element(ufunc, arg, y, out, 50))
    print(f"{np.dtype(dtype).name}, {n} elements: ns per element (median of 7 rounds of medians of 50)")
    for name, values in rows.items():
        print(f"  {name:<22} {median(values):6.3f}")
    planar_share(dtype)


def planar_share(dtype) -> None:
    """Microseconds per step of numba's planar descent with and without the loss."""
    X, Y = datasets.load_planar()
    X, Y = X.astype(dtype), Y.astype(dtype)
    p = mlp.initialize_parameters(2, 4, 1, random_state=2, dtype=dtype)
    with_loss = nb._kernel(nb._mlp_descend_impl, "serial", nb.TANH, False)
    without = _loss_free_kernel()
    steps = 2000
    times: dict[str, list[float]] = {}
    for _ in range(9):
        for name, kernel in (("with the loss", with_loss), ("without the loss", without)):
            W1, b1, W2, b2 = (p[k].copy() for k in ("W1", "b1", "W2", "b2"))
            costs = np.empty(steps)
            kernel(X, Y, W1, b1, W2, b2, 1.2, costs[:10], 1)
            settle()
            t = time.perf_counter()
            kernel(X, Y, W1, b1, W2, b2, 1.2, costs, 1)
            times.setdefault(name, []).append((time.perf_counter() - t) / steps * 1e6)
    print(f"numba mlp_descend, planar (2, 4, 400), tanh, {steps} steps per call: us per step")
    for name, values in times.items():
        print(f"  {name:<22} {median(values):6.3f}")


def _loss_free_kernel():
    """A copy of numba's serial step kernel (tanh, no finiteness check) whose output layer
    calls ``logistic_parts(z, y) = (z, 0, 0)`` and ``sum_log1p = 0``: the same passes,
    without the loss's work."""

    @njit(**nb._INLINE)
    def no_parts(z, y):
        zero = z - z
        return z, zero, zero

    @njit(**nb._INLINE)
    def no_sum(E, n):
        return 0.0

    math = types.ModuleType("numba_math_without_loss")
    math.__dict__.update(vars(nm), logistic_parts=no_parts, sum_log1p=no_sum)
    output_layer = njit(**nb._INLINE)(nb._renamed(nb._output_layer.py_func, "_no_loss", nm=math))
    block = njit(**nb._INLINE)(nb._renamed(nb._mlp_block.py_func, "_no_loss", _output_layer=output_layer))
    rows = njit(**nb._INLINE)(nb._renamed(nb._mlp_range.py_func, "_no_loss", _mlp_block=block))
    options = dict(nb._JIT, cache=False)
    constants = {"_ACT": nb.TANH, "_CHECK": False, "_mlp_range": rows}
    steps = njit(**options)(nb._renamed(nb._mlp_steps, "_no_loss", **constants))
    return njit(**options)(nb._renamed(nb._mlp_descend_impl, "_no_loss", _STEPS=steps))


if __name__ == "__main__":
    main(sys.argv[1:])
