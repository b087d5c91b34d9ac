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


class Descent(NamedTuple):
    costs: np.ndarray  # float64, one per step applied
    n_done: int
    status: int


def descend(
    run_chunk: Callable[[np.ndarray], tuple[int, int]],
    num_iterations: int,
    chunk: int | None = None,
    on_chunk: Callable[[int, np.ndarray], None] | None = None,
) -> Descent:
    """Run ``num_iterations`` steps as ``run_chunk(costs_view) -> (status, n_done)`` calls.

    ``on_chunk(first_iteration, costs)`` is called after each chunk with its costs.
    """
    costs = np.empty(num_iterations, F64)
    chunk = num_iterations if chunk is None else chunk
    done = 0
    while done < num_iterations:
        n = min(chunk, num_iterations - done)
        status, k = run_chunk(costs[done : done + n])
        if on_chunk is not None and k:
            on_chunk(done, costs[done : done + k])
        done += k
        if status != OK:
            return Descent(costs[:done], done, status)
    return Descent(costs, done, OK)


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
    """Raise for bad inputs, warn for a divergence (see the module policy)."""
    if result.status == OK:
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
