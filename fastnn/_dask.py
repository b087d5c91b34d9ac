"""The estimators on Dask arrays: data-parallel, synchronous full-batch gradient descent.

A fit on ``X`` (a ``dask.array``, ``(n_samples, n_features)``, chunked along the samples
only) and ``y`` (chunked alike) runs the single-machine algorithm on the active
``dask.distributed`` Client (or Dask's default scheduler when there is none):

1. every chunk is turned once into the kernels' layout (``X.T``, C-contiguous, the
   computation dtype; labels 0/1) and *persisted*: the chunks stay on their workers for
   the whole fit and are never gathered to the client;
2. each iteration, every chunk's summed loss and gradients come from fastnn's fused
   *gradients* kernel (the estimator's backend, one thread per task: Dask runs the chunks
   in parallel) where the chunk lives, the partial sums are added (by a tree of tasks when
   there are many), and the client applies the one update;
3. the new parameters reach the workers with each iteration's graph: inside the chunks'
   tasks, or as one key the tasks share when they are large (not scattered: what the
   scheduler can recompute survives a worker lost while it is sent, where Dask's
   ``scatter(broadcast=True)`` may wait on the dead worker for ever).

A NaN or inf in any chunk is found by the workers in that same pass (the kernels' status)
and raised as a ``ValueError`` naming the chunk.  A worker lost mid-fit is Dask's to
recover: the persisted chunks are recomputed from their source and the iteration's tasks
rerun, so the fit ends with the same result (or Dask raises).  Predictions stay lazy:
``map_blocks`` over the chunks with fastnn's kernels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from fastnn._backends import NONFINITE, OK

__all__ = ["descend", "is_dask_array", "predict_blocks", "prepare"]


def is_dask_array(x: object) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (without importing Dask for other inputs)."""
    return type(x).__module__.startswith("dask.") and type(x).__name__ == "Array"


# --- inputs -------------------------------------------------------------------------------


def check_chunks(X, y=None):
    """``(X, y)`` checked: 2-D ``X`` chunked along the samples only, ``y`` 1-D and chunked
    alike (an in-memory ``y`` is chunked like ``X``)."""
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got a dask array of shape {X.shape}")
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"X is chunked along the features (chunks {X.chunks[1]}); fastnn needs chunks of whole "
            "samples: X.rechunk({1: -1})"
        )
    if y is None:
        return X, None
    if not is_dask_array(y):
        y = da.from_array(np.asarray(y), chunks=(X.chunks[0],))
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D, one label per sample; got shape {y.shape} for X of shape {X.shape}")
    if y.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"y is chunked as {y.chunks[0]} but X as {X.chunks[0]}: they must be chunked alike "
            "(y.rechunk(X.chunks[0]))"
        )
    return X, y


def _encode(block: np.ndarray, positive, dtype) -> np.ndarray:
    """Labels ``(m,)`` as a row of 0/1 ``(1, m)``: 1 for the ``positive`` class."""
    return (np.asarray(block) == positive).astype(dtype).reshape(1, -1)


def prepare(X, y, dtype):
    """``(XT, Y, classes)``: chunks ``(n_features, m_i)`` in C order and 0/1 label rows
    ``(1, m_i)`` in the computation dtype, persisted (computed once, kept on the workers)."""
    import dask
    import dask.array as da

    X, y = check_chunks(X, y)
    classes = np.unique(np.asarray(da.unique(y).compute()))
    if len(classes) != 2:
        s = "es" if len(classes) != 1 else ""
        raise ValueError(
            f"Only binary classification is supported: y has {len(classes)} class{s} "
            f"({classes[:5].tolist()}); 2 are needed."
        )
    XT = X.T.astype(dtype).map_blocks(np.ascontiguousarray, dtype=dtype)
    Y = y.map_blocks(_encode, classes[1], dtype, dtype=dtype, chunks=((1,), y.chunks[0]), new_axis=0)
    XT, Y = dask.persist(XT, Y)
    return XT, Y, classes


# --- one pass over every chunk ------------------------------------------------------------


def mlp_chunk(XT, Y, params, backend, activation, index):
    """``(status, loss, grads, index)`` summed over chunk ``index``: a worker's part of a pass."""
    from fastnn._dispatch import resolve

    status, loss, grads = resolve(backend).mlp_gradients(XT, Y, *params, activation, 1)
    return status, float(loss), None if grads is None else tuple(grads), index


def logreg_chunk(XT, Y, params, backend, activation, index):
    """As :func:`mlp_chunk` for logistic regression (its gradients kernel is ``propagate``,
    whose means times the chunk's size are the sums)."""
    from fastnn._dispatch import resolve

    w, b = params
    m = XT.shape[1]
    status, dw, db, cost = resolve(backend).logreg_propagate(w, float(b[0, 0]), XT, Y, 1)
    if dw is None:
        return status, 0.0, None, index
    return status, float(cost) * m, (dw * m, np.full((1, 1), db * m, w.dtype)), index


def _add(*partials):
    """Partial results added; a bad status (the first bad chunk's) wins."""
    total = partials[0]
    for part in partials[1:]:
        if total[0] != OK:
            return total
        if part[0] != OK:
            return part
        total = OK, total[1] + part[1], tuple(x + y for x, y in zip(total[2], part[2])), total[3]
    return total


FAN_IN = 8  # partial sums added per task; the client adds the last ones (at most FAN_IN)
INLINE_BYTES = 1 << 20  # parameters times chunks up to this travel inside the chunks' tasks


def sums(XT, Y, params, chunk_fn, backend, activation):
    """``(status, loss, grads, chunk)`` summed over every chunk: one task per chunk, where
    the chunk lives; the partial sums added ``FAN_IN`` at a time, the last ones on the client.

    Each level of tasks is a round trip through the scheduler, so parameters that come to
    at most ``INLINE_BYTES`` over the chunks ride inside each chunk's task (larger ones are
    one key of the graph the tasks share), and up to ``FAN_IN`` partial sums go straight to
    the client (more are added by a tree of tasks first)."""
    import dask
    from dask import delayed

    pairs = list(zip(XT.to_delayed().ravel(), Y.to_delayed().ravel()))
    nbytes = sum(P.nbytes for P in params) * len(pairs)
    shared = params if nbytes <= INLINE_BYTES else delayed(params, traverse=False)
    parts = [delayed(chunk_fn)(xb, yb, shared, backend, activation, i) for i, (xb, yb) in enumerate(pairs)]
    while len(parts) > FAN_IN:
        parts = [delayed(_add)(*parts[i:i + FAN_IN]) for i in range(0, len(parts), FAN_IN)]
    return _add(*dask.compute(*parts))


# --- the fit ------------------------------------------------------------------------------


def descend(XT, Y, params, learning_rate, max_iter, chunk_fn, backend, activation,
            on_step: Callable[[int, float], None] | None, what: str):
    """Full-batch gradient descent over the persisted chunks: ``params`` (a tuple of arrays)
    are updated in place, as an in-memory fit would.  Returns ``(costs, n_done)``."""
    from fastnn._fit import DivergenceWarning

    m = XT.shape[1]
    costs = []
    for it in range(max_iter):
        status, loss, grads, chunk = sums(XT, Y, params, chunk_fn, backend, activation)
        if status == NONFINITE and it == 0:
            first = sum(XT.chunks[1][:chunk])
            raise ValueError(
                f"X holds NaN or infinity in chunk {chunk} (samples {first} to "
                f"{first + XT.chunks[1][chunk] - 1}); fastnn needs finite data"
            )
        cost = loss / m
        new = [P - P.dtype.type(learning_rate) * (G / m).astype(P.dtype) for P, G in zip(params, grads)] \
            if status == OK else []
        if status != OK or not (np.isfinite(cost) and all(np.isfinite(P).all() for P in new)):
            warnings.warn(
                f"{what} diverged: the cost or the parameters stopped being finite at iteration {it} "
                f"(learning_rate={learning_rate}); stopped there and kept the parameters of the last "
                "finite step. Try a smaller learning rate.",
                DivergenceWarning,
                stacklevel=3,
            )
            break
        for P, P_new in zip(params, new):
            P[...] = P_new
        costs.append(cost)
        if on_step is not None:
            on_step(it, cost)
    return np.array(costs), len(costs)


# --- predictions --------------------------------------------------------------------------


def predict_blocks(X, score_block: Callable[[np.ndarray], np.ndarray], width: int | None, dtype):
    """A lazy ``map_blocks`` of ``score_block`` (an in-memory chunk ``(m_i, n_features)`` to
    ``(m_i,)``, or ``(m_i, width)``, of ``dtype``) over the chunks of ``X``."""
    X, _ = check_chunks(X)
    meta = np.empty((0,) * (1 if width is None else 2), dtype)
    if width is None:
        return X.map_blocks(score_block, drop_axis=1, dtype=dtype, meta=meta)
    return X.map_blocks(score_block, chunks=(X.chunks[0], (width,)), dtype=dtype, meta=meta)
