"""What every fit shares: the chunked descent loop and the policy on bad statuses.

A fit calls a backend's ``*_descend`` kernel in chunks (one chunk when nothing is reported
on the way), so the iteration loop runs in compiled code while progress, printed costs and
cost history are reported between chunks.

Policy
    Non-binary labels, or a NaN/inf among the inputs (with ``check_finite=True``), raise
    ``ValueError`` before any step is applied.  A step whose cost or new parameters would
    not be finite from finite inputs (overflow, typically a learning rate too large) is not
    applied: a single step (``propagate``, ``train_step``) raises ``FloatingPointError``; a
    fit stops there, keeps the last finite parameters and warns with
    :class:`DivergenceWarning`.  ``check_finite=False`` turns both checks off: NaN in, NaN out.

Ctrl-C
    A fit hands control back to Python between kernel calls of a fraction of a second
    (:data:`CHUNK_WORK`), so ``KeyboardInterrupt`` stops it promptly, between whole steps:
    the fit's parameters are those of its last completed step (an estimator keeps them,
    fitted, with ``n_iter_`` saying how far it got), then the exception goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from fastnn._backends import BAD_LABEL, NONFINITE, OK
from fastnn._validation import F64, diagnose


class DivergenceWarning(RuntimeWarning):
    """A fit stopped because its cost or parameters stopped being finite."""


#: The status of a descent stopped by ``KeyboardInterrupt`` (not a kernel status).
INTERRUPTED = -1


class Descent(NamedTuple):
    costs: np.ndarray  # float64: the kept costs (see ``descend``'s ``keep_every``)
    n_done: int
    status: int


#: A kernel call does at most about this many multiply-adds (a fraction of a second on one
#: core): the iteration loop runs in compiled code, and Python -- Ctrl-C, any signal, a
#: progress bar -- gets control back between calls.
CHUNK_WORK = 2e8


def descend(
    run_chunk: Callable[[np.ndarray], tuple[int, int]],
    num_iterations: int,
    work_per_iteration: float,
    chunk: int | None = None,
    on_chunk: Callable[[int, np.ndarray], None] | None = None,
    keep_every: int = 1,
) -> Descent:
    """Run ``num_iterations`` steps as ``run_chunk(costs_view) -> (status, n_done)`` calls
    of at most ``chunk`` iterations and about :data:`CHUNK_WORK` multiply-adds each.

    ``on_chunk(first_iteration, costs)`` is called after each call with its costs.  The
    costs of iterations ``0, keep_every, 2 keep_every, ...`` are kept (none when 0): memory
    for a history, not for every iteration of a long fit.  A fit interrupted between calls
    (``KeyboardInterrupt``) leaves the parameters of its last completed step: each call
    applies whole steps.
    """
    longest = max(1, int(CHUNK_WORK // max(1.0, work_per_iteration)))
    chunk = max(1, min(chunk or num_iterations, longest, num_iterations))
    buffer = np.empty(chunk, F64)
    kept = []
    done, status = 0, OK
    try:
        while done < num_iterations:
            n = min(chunk, num_iterations - done)
            status, k = run_chunk(buffer[:n])
            costs = buffer[:k]
            if keep_every:
                kept.append(costs[-done % keep_every :: keep_every].copy())
            done += k
            if on_chunk is not None and k:
                on_chunk(done - k, costs)
            if status != OK:
                break
    except KeyboardInterrupt:
        status = INTERRUPTED
    costs = np.concatenate(kept) if kept else np.empty(0, F64)
    return Descent(costs, done, status)


def cost_printer(every: int) -> Callable[[int, np.ndarray], None]:
    """An ``on_chunk`` that prints "Cost after iteration i: c" every ``every`` iterations."""

    def report(first: int, costs: np.ndarray) -> None:
        for i in range(-first % every, len(costs), every):
            print(f"Cost after iteration {first + i}: {costs[i]:f}")

    return report


def check_step(status: int, arrays: Mapping[str, np.ndarray], check_finite: bool, what: str) -> None:
    """Raise for a single step whose kernel reported ``status`` (see the module policy)."""
    if status == OK or (status == NONFINITE and not check_finite):
        return
    diagnose(status, arrays)
    raise FloatingPointError(
        f"{what}: the result is not finite although every input is (an overflow); "
        "nothing was updated"
    )


def check_fit(result: Descent, arrays: Mapping[str, np.ndarray], learning_rate: float, what: str) -> None:
    """Raise for bad inputs, warn for a divergence (see the module policy); an interrupted
    descent is the caller's to finish (:func:`interrupted`)."""
    if result.status in (OK, INTERRUPTED):
        return
    if result.status == BAD_LABEL or result.n_done == 0:
        diagnose(result.status, arrays)
    if result.status == NONFINITE:
        warnings.warn(
            f"{what} diverged: the cost or the parameters stopped being finite at iteration "
            f"{result.n_done} (learning_rate={learning_rate}); stopped there and kept the "
            "parameters of the last finite step. Try a smaller learning rate.",
            DivergenceWarning,
            stacklevel=3,
        )


def interrupted(result: Descent) -> None:
    """Raise ``KeyboardInterrupt`` again for a descent that Ctrl-C stopped (once the caller
    has kept what it wants of it)."""
    if result.status == INTERRUPTED:
        raise KeyboardInterrupt
