"""``fastnn bench --check``: gross, ratio-based regression floors for CI.

Each floor compares two medians measured in the same run, over at least
``Mode.check_rounds`` interleaved rounds, so a slow or busy machine slows both sides alike.
The floors are far below what the project aims at (see the README): they catch a broken
vectorized path or a compiled backend that lost its edge, not a few percent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from fastnn.bench.cases import LOOP_ROW, NP_DOT_1T_ROW, REFERENCE_ROW, Case
from fastnn.bench.results import MARK, CaseResult, spread

__all__ = ["FLOORS", "WHY_LOOSE", "CheckOutcome", "Floor", "evaluate", "required_rows"]


@dataclass(frozen=True)
class Floor:
    """``median(reference) / median(row) >= minimum`` on case ``case``."""

    case: str
    row: str
    reference: str
    minimum: float
    what: str


DOT_CASE = Case("dot", (("n", 1_000_000),), "float64", dataset="uniform").name
SMALL_STEP_CASE = Case("train_step", (("n_x", 2), ("n_h", 4), ("m", 400)), "float64", dataset="planar").name

FLOORS = (
    Floor(DOT_CASE, NP_DOT_1T_ROW, LOOP_ROW, 50.0, "np.dot (1 BLAS thread) vs the lecture's loop"),
    Floor(SMALL_STEP_CASE, "numba", REFERENCE_ROW, 1.0, "numba backend vs numpy backend, small train_step"),
    Floor(SMALL_STEP_CASE, "cython", REFERENCE_ROW, 1.0, "cython backend vs numpy backend, small train_step"),
)

WHY_LOOSE = (
    "These floors are loose on purpose: CI runs on shared, noisy machines, so only gross "
    "regressions fail (the lecture measured about 300x for the loop, and the compiled backends "
    "aim far above the numpy backend); the real targets are documented in the README. "
    "np.dot is checked with one BLAS thread: a multi-threaded call waits for its slowest "
    "thread, which a busy neighbour can stall for a scheduler slice per call."
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def required_rows(floors: Sequence[Floor] | None = None) -> dict[str, set[str]]:
    """Case name -> the rows the floors (default :data:`FLOORS`) read: they run whatever
    the row selection."""
    required: dict[str, set[str]] = {}
    for f in FLOORS if floors is None else floors:
        required.setdefault(f.case, set()).update((f.row, f.reference))
    return required


@dataclass(frozen=True)
class CheckOutcome:
    floor: Floor
    status: str  # "PASS", "FAIL" or "SKIP"
    value: float | None
    note: str = ""
    unsteady: str | None = None  # why the ratio is unsteady (see fastnn.bench.results)

    def line(self) -> str:
        f = self.floor
        value = "n/a" if self.value is None else f"{self.value:.3g}x" + (MARK if self.unsteady else "")
        text = f"{self.status:4}  {f.what}: {value} (floor {f.minimum:g}x)"
        text += f" [{f.case}: {f.reference} / {f.row}]"
        return f"{text} - {self.note}" if self.note else text


def evaluate(
    results: Sequence[CaseResult], floors: Sequence[Floor] | None = None, in_ci: bool | None = None
) -> list[CheckOutcome]:
    """Each floor's (default :data:`FLOORS`) measured ratio and verdict.

    A row that could not run is a SKIP with its reason, except in CI (``CI=true``), where
    every backend must be there (as in the test suite): a FAIL.
    """
    in_ci = _in_ci() if in_ci is None else in_ci
    by_case = {r.case: r for r in results}
    outcomes = []
    for f in FLOORS if floors is None else floors:
        case = by_case.get(f.case)
        row = case.row(f.row) if case else None
        ref = case.row(f.reference) if case else None
        missing = [r for r in (ref, row) if r is None or r.median is None]
        if case is None or missing:
            if case is None:
                note = "case not run"
            else:
                bad = missing[0]
                note = "row not run" if bad is None else f"{bad.row} {bad.cell_note()}"
            outcomes.append(CheckOutcome(f, "FAIL" if in_ci else "SKIP", None, note))
            continue
        value = ref.median / row.median
        ratios = spread([a / b for a, b in zip(ref.times, row.times)])
        unsteady = ratios["unsteady"] if ratios else None
        note = f"unsteady: {unsteady}" if unsteady else ""
        outcomes.append(CheckOutcome(f, "PASS" if value >= f.minimum else "FAIL", value, note, unsteady))
    return outcomes
