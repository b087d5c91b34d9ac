"""The one validation layer in front of every kernel.

Everything a kernel may assume (see :mod:`fastnn._backends`) is established here, in
Python, before compiled code touches memory: types, ``ndim``, shapes (both shapes named in
the message), dtypes, layout, ``m >= 1``, labels and finiteness.

dtype rule
    The computation dtype is ``float32`` when every floating input (data and parameters)
    is ``float32``, else ``float64``: NumPy's promotion, so float64 data is never silently
    downcast.  Integer and bool inputs (and lists) count as ``float64``; ``float16`` counts
    as ``float32``.  Labels ``Y`` never decide the dtype: they are cast to it (0 and 1 are
    exact in both).  Results come back in the computation dtype.  Functions that update
    parameters in place (``train_step``) require the parameters to have that dtype already.

Layout
    Non-contiguous, Fortran-ordered, read-only, unaligned, big-endian, broadcast and sliced
    arrays are accepted and converted once to the C-contiguous native layout the kernels
    read; already-suitable arrays pass through without a copy.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Mapping

import numpy as np

from fastnn._backends import BAD_LABEL, NONFINITE

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
ndarray = np.ndarray

_COLUMN_HINT = "a column of shape (n, 1); pass {name}.reshape(-1, 1)"
_ROW_HINT = "a row of shape (n_y, m) (one column per example); pass {name}.reshape(1, -1)"
_DATA_HINT = (
    "2-D of shape ({rows}, m), one column per example; for a single example pass "
    "{name}.reshape(-1, 1), for a single row {name}.reshape(1, -1)"
)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:120]


def as_array(value: object, name: str, ndim: int | None = None, hint: str = "") -> np.ndarray:
    """``value`` as a float32/float64 ndarray (any layout), or a TypeError/ValueError.

    int/bool become float64, float16 becomes float32, big-endian becomes native; strings,
    objects that are not numbers, complex numbers, ``None`` and dates are refused.
    """
    if type(value) is np.ndarray and (value.dtype is F64 or value.dtype is F32):
        arr = value
    else:
        arr = _convert(value, name)
    if ndim is not None and arr.ndim != ndim:
        what = {0: "a scalar", 1: "1-D", 2: "2-D"}.get(ndim, f"{ndim}-D")
        if hint:
            what = hint.format(name=name)
        raise ValueError(f"{name} must be {what}; got {_describe(arr)}")
    return arr


def _convert(value: object, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} must be an array of numbers, got None")
    if isinstance(value, (str, bytes, Mapping)):
        raise TypeError(f"{name} must be an array of numbers, got {_describe(value)}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as exc:  # RuntimeError: a torch tensor with grad
        hint = f" (a tensor that requires grad: pass {name}.detach())" if "grad" in str(exc) else ""
        raise TypeError(f"{name} must be an array of numbers: {exc}{hint}") from None
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(F64)
    if kind == "f":
        if arr.dtype.itemsize <= 2:
            return arr.astype(F32)
        if arr.dtype.itemsize > 8:
            raise TypeError(
                f"{name} has dtype {arr.dtype}, wider than float64; cast it with "
                f"{name}.astype(np.float64)"
            )
        # native byte order, and NumPy's own dtype object (an unpickled array may carry an
        # equal but distinct one, which identity checks would miss): a view, no copy
        native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
        return native.view(F32 if native.dtype.itemsize == 4 else F64)
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; fastnn works on real numbers")
    if kind == "O" and all(_is_number(v) for v in arr.flat):
        try:
            return arr.astype(F64)
        except (ValueError, TypeError, OverflowError):
            pass
    raise TypeError(f"{name} must be an array of numbers; got {_describe(arr)}")


def _is_number(v: object) -> bool:
    """A real number for an object array: not a string (which NumPy would parse)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (str, bytes))


def data_array(value: object, name: str = "X", rows: str = "n_x") -> np.ndarray:
    """A 2-D matrix ``(rows, m)``, one column per example, with ``rows >= 1`` and ``m >= 1``."""
    X = as_array(value, name, 2, _DATA_HINT.replace("{rows}", rows))
    if X.shape[1] == 0:
        raise ValueError(f"{name} has shape {X.shape}: it holds no examples (m = 0)")
    if X.shape[0] == 0:
        what = "features" if rows == "n_x" else "rows"
        raise ValueError(f"{name} has shape {X.shape}: it holds no {what} ({rows} = 0)")
    return X


def column(value: object, name: str, n: int, against: str, against_shape: tuple) -> np.ndarray:
    """A column ``(n, 1)``; the message names the array whose shape fixes ``n``."""
    arr = as_array(value, name, 2, _COLUMN_HINT)
    if arr.shape != (n, 1):
        raise ValueError(
            f"{name} has shape {arr.shape} but {against} has shape {against_shape}: "
            f"{name} must have shape ({n}, 1)"
        )
    return arr


def matrix(value: object, name: str, shape: tuple, against: str, against_shape: tuple) -> np.ndarray:
    """A 2-D array of exactly ``shape``; ``None`` in ``shape`` matches any size >= 1."""
    arr = as_array(value, name, 2)
    ok = all(want is None or want == got for want, got in zip(shape, arr.shape))
    if not ok or 0 in arr.shape:
        want = "(" + ", ".join("k" if s is None else str(s) for s in shape) + ")"
        raise ValueError(
            f"{name} has shape {arr.shape} but {against} has shape {against_shape}: "
            f"{name} must have shape {want}"
        )
    return arr


def labels(value: object, m: int, n_y: int | None = 1, name: str = "Y", x_shape=None) -> np.ndarray:
    """Labels ``(n_y, m)``; a rank-1 ``(m,)`` is refused with the reshape to use."""
    Y = as_array(value, name, 2, _ROW_HINT)
    if Y.shape[1] != m or (n_y is not None and Y.shape[0] != n_y) or Y.shape[0] == 0:
        rows = "n_y" if n_y is None else n_y
        raise ValueError(
            f"{name} has shape {Y.shape} but X has shape {x_shape}: "
            f"{name} must have shape ({rows}, {m})"
        )
    return Y


def scalar(value: object, name: str) -> float:
    """A real number (Python, NumPy or a one-element array) as a Python float."""
    if isinstance(value, float):
        return value
    try:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "fiu":
            return float(value.reshape(()))
    except OverflowError:
        raise ValueError(f"{name} is too large for a float64: {str(value)[:40]}...") from None
    raise TypeError(f"{name} must be a real number, got {_describe(value)}")


def positive(value: object, name: str) -> float:
    """A finite real number > 0 (a learning rate)."""
    x = scalar(value, name)
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def count(value: object, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (an iteration count, a layer size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    n = operator.index(value)
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return n


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 if every array is float32, else float64 (see the module docstring)."""
    return F32 if all(a.dtype == F32 for a in arrays) else F64


def c_array(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``arr`` as a C-contiguous, aligned array of ``dtype``: itself when it already is."""
    if arr.dtype is dtype and arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    return np.require(arr, dtype, ("C", "A")).view(dtype)


def distinct(arrays: Mapping[str, np.ndarray], written: tuple[str, ...]) -> None:
    """A ValueError when an array written in place shares memory with another argument
    (``b1 is b2``, or views of one buffer): the result would depend on the order of the
    writes, which no backend promises."""
    for name in written:
        for other, arr in arrays.items():
            if other != name and np.may_share_memory(arrays[name], arr):
                raise ValueError(
                    f"{name} and {other} share memory; {name} is updated in place, so they must be "
                    f"separate arrays (pass {name}.copy())"
                )


def label_array(Y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Labels in the computation dtype; checked first when the cast could change a value."""
    if Y.dtype is not dtype and Y.dtype.itemsize > dtype.itemsize:
        check_labels(Y)
    return c_array(Y, dtype)


# --- fast paths ---------------------------------------------------------------------------
# The hot calls (train_step, propagate) at the course's sizes cost a few microseconds in
# compiled code, so their arguments are first tried against the common case in O(1):
# exact ndarrays of one float dtype, C-contiguous, aligned, writable, consistent shapes.
# Anything else (lists, other dtypes, layouts, bad shapes) returns None and takes the
# general path above, which converts or explains.


def fast_mlp_arrays(parameters, X, Y) -> tuple | None:
    """``(X, Y, W1, b1, W2, b2)`` when they need no conversion and their shapes agree (the
    checks written out: this runs before every fused step)."""
    if type(parameters) is not dict or type(X) is not ndarray or type(Y) is not ndarray:
        return None
    get = parameters.get
    W1, b1, W2, b2 = get("W1"), get("b1"), get("W2"), get("b2")
    if (type(W1) is not ndarray or type(b1) is not ndarray or type(W2) is not ndarray
            or type(b2) is not ndarray or len(parameters) != 4):
        return None
    dtype = X.dtype
    if ((dtype is not F64 and dtype is not F32) or W1.dtype is not dtype or b1.dtype is not dtype
            or W2.dtype is not dtype or b2.dtype is not dtype):
        return None
    fx, fy = X.flags, Y.flags
    if not (fx.c_contiguous and fx.aligned and fy.c_contiguous and fy.aligned and W1.flags.carray
            and b1.flags.carray and W2.flags.carray and b2.flags.carray):
        return None
    sx, sy, s1, sb1, s2, sb2 = X.shape, Y.shape, W1.shape, b1.shape, W2.shape, b2.shape
    if len(sx) != 2 or len(sy) != 2 or len(s1) != 2 or len(sb1) != 2 or len(s2) != 2 or len(sb2) != 2:
        return None
    n_x, m = sx
    n_h, n_y = s1[0], s2[0]
    if (sy[1] != m or sy[0] != n_y or s1[1] != n_x or s2[1] != n_h or sb1[0] != n_h or sb1[1] != 1
            or sb2[0] != n_y or sb2[1] != 1 or not m * n_x * n_h * n_y):
        return None
    if not (W1.base is None and b1.base is None and W2.base is None and b2.base is None):
        return None  # views: the general path makes sure they do not overlap
    if (W1 is b1 or W1 is W2 or W1 is b2 or b1 is W2 or b1 is b2 or W2 is b2
            or X is W1 or X is b1 or X is W2 or X is b2 or Y is W1 or Y is b1 or Y is W2 or Y is b2):
        return None  # the same array twice: refused by the general path
    arrays = (X, Y, W1, b1, W2, b2)
    return arrays if Y.dtype is dtype else _with_labels(arrays, 1, dtype)


def _with_labels(arrays: tuple, index: int, dtype: np.dtype) -> tuple | None:
    """``arrays`` with the labels at ``index`` cast to ``dtype`` (uint8/bool/int labels, as
    ``load_planar`` gives), or None when they are not numbers."""
    Y = arrays[index]
    if Y.dtype.kind not in "biuf" or not Y.dtype.isnative:
        return None
    return (*arrays[:index], label_array(Y, dtype), *arrays[index + 1 :])


def fast_logreg_arrays(w, X, Y) -> tuple | None:
    """``(w, X, Y)`` when they need no conversion and their shapes agree."""
    if type(X) is not ndarray or type(w) is not ndarray or type(Y) is not ndarray:
        return None
    dtype = X.dtype
    if (dtype is not F64 and dtype is not F32) or w.dtype is not dtype:
        return None
    fx, fw, fy = X.flags, w.flags, Y.flags
    if not (fx.c_contiguous and fx.aligned and fw.c_contiguous and fw.aligned and fy.c_contiguous
            and fy.aligned):
        return None
    sx, sw, sy = X.shape, w.shape, Y.shape
    if len(sx) != 2 or len(sw) != 2 or len(sy) != 2:
        return None
    n_x, m = sx
    if sw[0] != n_x or sw[1] != 1 or sy[0] != 1 or sy[1] != m or not n_x * m:
        return None
    return (w, X, Y) if Y.dtype is dtype else _with_labels((w, X, Y), 2, dtype)


# --- value checks -----------------------------------------------------------------------


def _first_index(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        idx = _first_index(~np.isfinite(arr))
        raise ValueError(
            f"{name} contains NaN or infinity ({arr[idx].item()!r} at index {idx} of shape "
            f"{arr.shape}); pass check_finite=False to skip this check"
        )


def check_labels(Y: np.ndarray, name: str = "Y") -> None:
    bad = (Y != 0) & (Y != 1)
    if bad.any():
        idx = _first_index(bad)
        raise ValueError(
            f"{name} must hold binary labels 0 and 1 only; found {Y[idx].item()!r} at index {idx} "
            f"of shape {Y.shape}"
        )


def diagnose(status: int, arrays: Mapping[str, np.ndarray], labels_name: str = "Y") -> None:
    """Turn a kernel status into the precise error about the caller's arguments.

    Returns normally only when every input is finite and the labels are binary: the
    non-finite result is then an overflow of the computation itself, which the caller
    reports (an error for a single step, a warning for a fit).
    """
    if status == BAD_LABEL:
        check_labels(arrays[labels_name], labels_name)
    if status in (BAD_LABEL, NONFINITE):
        for name, arr in arrays.items():
            check_finite(np.asarray(arr), name)


def as_dict(value: object, name: str, keys: tuple[str, ...], extra_ok: bool = False) -> Mapping:
    """A mapping holding exactly ``keys`` (or at least them, with ``extra_ok``)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict with keys {list(keys)}, got {_describe(value)}")
    missing = [k for k in keys if k not in value]
    extra = [] if extra_ok else [k for k in value if k not in keys]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise ValueError(f"{name} must have the keys {list(keys)}: {', '.join(parts)}")
    return value
