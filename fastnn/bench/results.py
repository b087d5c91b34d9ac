"""Results of a run and the figures derived from them: medians, spreads, speed-ups, rates.

Everything here is pure arithmetic on measured samples, so it can be tested with made-up
timings.  Speed-ups compare medians measured in the same run (the same rounds).

Spread and marks
    Every time and every speed-up carries its spread: the interquartile range (IQR) of the
    row's samples, and of the per-round ratios (round ``k`` of the reference over round
    ``k`` of the row) for a speed-up.  A figure is *unsteady*, and the table marks it with
    :data:`MARK`, when that IQR spans more than :data:`STEADY_IQR` of its median or when it
    rests on fewer than :data:`STEADY_ROUNDS` rounds: on a busy host a median can then be
    off by more than the differences the table is read for.  A speed-up's spread carries
    the noise of both its rows, while a slow spell that hits both in the same round (the
    rows of a round run one after the other) cancels out of it, as it does of the ratio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from fastnn.bench.cases import LOOP_ROW, NP_DOT_1T_ROW, REFERENCE_ROW, Case
from fastnn.bench.timing import median

__all__ = [
    "ERROR",
    "MARK",
    "OK",
    "SKIPPED",
    "STEADY_IQR",
    "STEADY_ROUNDS",
    "UNAVAILABLE",
    "CaseResult",
    "RowResult",
    "case_result",
    "derive",
    "lecture_headline",
    "spread",
]

OK, SKIPPED, UNAVAILABLE, ERROR = "ok", "skipped", "unavailable", "error"

#: A figure whose interquartile range spans more than this fraction of its median is marked.
STEADY_IQR = 0.10
#: A figure resting on fewer rounds than this is marked.
STEADY_ROUNDS = 3
#: The mark of an unsteady figure in tables and summaries.
MARK = "?"


def spread(values: list[float]) -> dict | None:
    """The spread of ``values``: ``q1``, ``q3`` (quartiles, linear interpolation),
    ``rel_iqr`` (``(q3 - q1) / median``), ``rounds``, and ``unsteady``: why the median is not
    to be trusted (see the module docstring), ``None`` when it is.  ``None`` without values."""
    if not values:
        return None
    q1, mid, q3 = (float(q) for q in np.percentile(values, [25, 50, 75]))
    rel_iqr = (q3 - q1) / mid if mid > 0 else 0.0
    unsteady = None
    if len(values) < STEADY_ROUNDS:
        unsteady = f"{len(values)} round{'s' if len(values) > 1 else ''} < {STEADY_ROUNDS}"
    elif rel_iqr > STEADY_IQR:
        unsteady = f"IQR {100 * rel_iqr:.0f}% of the median > {100 * STEADY_IQR:.0f}%"
    return {"q1": q1, "q3": q3, "rel_iqr": rel_iqr, "rounds": len(values), "unsteady": unsteady}


@dataclass
class RowResult:
    """One row of a case in the table: how a row did on a case.

    ``times`` are seconds per call, one sample per round; the rest is derived by
    :func:`derive` (``None`` where it does not apply).  ``*_spread`` are :func:`spread`
    dicts: of the samples (``time_spread``) and of the per-round ratios (speed-ups).
    """

    row: str
    label: str
    kind: str
    status: str = OK
    reason: str | None = None
    times: list[float] = field(default_factory=list)
    batch: int = 0
    estimate: float | None = None  # seconds per call estimated from a probe, when one ran
    first_call: float | None = None  # seconds of the first call (a warm-up: numba compiles there)
    median: float | None = None
    time_spread: dict | None = None
    speedup_vs_loop: float | None = None
    speedup_vs_loop_spread: dict | None = None
    speedup_vs_numpy: float | None = None
    speedup_vs_numpy_spread: dict | None = None
    gflops: float | None = None
    gbps: float | None = None
    pct_peak_flops: float | None = None
    pct_peak_bandwidth: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK and bool(self.times)

    def cell_note(self) -> str:
        """``"skipped: est. 9.1 s/call > 2 s budget"`` style text for a row with no time."""
        return f"{self.status}: {self.reason}" if self.reason else self.status


@dataclass
class CaseResult:
    """A case's rows, with the case's identity and work model."""

    case: str
    kind: str
    dtype: str
    dims: dict[str, int]
    iterations: int
    flops: float
    bytes: float | None
    reports_rates: bool
    rows: list[RowResult] = field(default_factory=list)
    wall_seconds: float | None = None  # the whole case: data, warm-ups, probes, rounds

    def row(self, name: str) -> RowResult | None:
        return next((r for r in self.rows if r.row == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> CaseResult:
        """The inverse of :meth:`to_dict`, tolerant of keys it does not know (other schema
        versions); run :func:`derive` to recompute the derived figures."""
        row_keys = {f.name for f in fields(RowResult)}
        rows = [RowResult(**{k: v for k, v in r.items() if k in row_keys}) for r in doc.get("rows", ())]
        case_keys = {f.name for f in fields(cls)} - {"rows"}
        return cls(**{k: v for k, v in doc.items() if k in case_keys}, rows=rows)


def case_result(case: Case) -> CaseResult:
    """An empty result for ``case``."""
    return CaseResult(
        case=case.name,
        kind=case.kind,
        dtype=case.dtype,
        dims=dict(case.dims),
        iterations=case.iterations,
        flops=case.flops,
        bytes=case.bytes,
        reports_rates=case.reports_rates,
    )


def _speedup(reference: RowResult | None, r: RowResult) -> tuple[float | None, dict | None]:
    """``median(reference) / median(r)`` and the spread of the per-round ratios."""
    if reference is None or reference.median is None or r.median is None or r.median <= 0:
        return None, None
    if reference is r:
        return 1.0, None
    paired = zip(reference.times, r.times)  # round k of each (rounds are interleaved)
    return reference.median / r.median, spread([a / b for a, b in paired if b > 0])


def derive(result: CaseResult, peaks: dict | None = None) -> CaseResult:
    """Fill in each row's median, spreads, speed-ups and rates from its samples (in place).

    Speed-ups are ``median(reference) / median(row)`` against the array loop (the dot case)
    and the numpy backend.  Rates: GFLOP/s for single steps (propagate, train_step), GB/s
    for those and the dot case, as % of ``peaks`` (``flops_<dtype>``, ``bandwidth``) when
    given.
    """
    for r in result.rows:
        r.median = median(r.times) if r.status == OK else None
        r.time_spread = spread(r.times) if r.median is not None else None
    loop, numpy_row = result.row(LOOP_ROW), result.row(REFERENCE_ROW)
    peaks = peaks or {}
    peak_flops = peaks.get(f"flops_{result.dtype}")
    peak_bandwidth = peaks.get("bandwidth")
    for r in result.rows:
        r.speedup_vs_loop, r.speedup_vs_loop_spread = _speedup(loop, r)
        r.speedup_vs_numpy, r.speedup_vs_numpy_spread = _speedup(numpy_row, r)
        r.gflops = r.gbps = r.pct_peak_flops = r.pct_peak_bandwidth = None
        if r.median is None or not result.reports_rates:
            continue
        if result.kind != "dot":
            r.gflops = result.flops / r.median / 1e9
            if peak_flops:
                r.pct_peak_flops = 100.0 * result.flops / r.median / peak_flops
        if result.bytes is not None:
            r.gbps = result.bytes / r.median / 1e9
            if peak_bandwidth:
                r.pct_peak_bandwidth = 100.0 * result.bytes / r.median / peak_bandwidth
    return result


def lecture_headline(result: CaseResult) -> dict | None:
    """The lecture's experiment in one figure: how much faster ``np.dot`` is than the loop.

    Of the two ``np.dot`` rows (all BLAS threads, one thread) it quotes the steadier, the
    one whose per-round ratios against the loop spread less (relative IQR); ``other`` is
    the one not quoted.  ``None`` when neither has a ratio.
    """
    candidates = [
        r
        for r in (result.row("np.dot"), result.row(NP_DOT_1T_ROW))
        if r is not None and r.speedup_vs_loop is not None
    ]
    if not candidates:
        return None

    def figure(r: RowResult) -> dict:
        return {
            "row": r.row,
            "label": r.label,
            "speedup_vs_loop": r.speedup_vs_loop,
            "spread": r.speedup_vs_loop_spread,
        }

    def key(r: RowResult) -> tuple:
        s = r.speedup_vs_loop_spread
        return (s is None, s["rel_iqr"] if s else 0.0)

    ranked = sorted(candidates, key=key)
    headline = figure(ranked[0])
    headline["other"] = figure(ranked[1]) if len(ranked) > 1 else None
    return headline
