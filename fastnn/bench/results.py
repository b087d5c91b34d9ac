"""Results of a run and the figures derived from them: medians, speed-ups, rates, % of peak.

Everything here is pure arithmetic on measured samples, so it can be tested with made-up
timings.  Speed-ups compare medians measured in the same run (the same rounds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fastnn.bench.cases import LOOP_ROW, REFERENCE_ROW, Case
from fastnn.bench.timing import median

__all__ = ["ERROR", "OK", "SKIPPED", "UNAVAILABLE", "CaseResult", "RowResult", "case_result", "derive"]

OK, SKIPPED, UNAVAILABLE, ERROR = "ok", "skipped", "unavailable", "error"


@dataclass
class RowResult:
    """One row of a case in the table: how a row did on a case.

    ``times`` are seconds per call, one sample per round; the rest is derived by
    :func:`derive` (``None`` where it does not apply).
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
    speedup_vs_loop: float | None = None
    speedup_vs_numpy: float | None = None
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


def _ratio(reference: float | None, value: float | None) -> float | None:
    if reference is None or value is None or value <= 0:
        return None
    return reference / value


def derive(result: CaseResult, peaks: dict | None = None) -> CaseResult:
    """Fill in each row's median, speed-ups and rates from its samples (in place).

    Speed-ups are ``median(reference) / median(row)`` against the array loop (the dot case)
    and the numpy backend.  Rates: GFLOP/s for single steps (propagate, train_step), GB/s
    for those and the dot case, as % of ``peaks`` (``flops_<dtype>``, ``bandwidth``) when
    given.
    """
    for r in result.rows:
        r.median = median(r.times) if r.status == OK else None
    loop = result.row(LOOP_ROW)
    numpy_row = result.row(REFERENCE_ROW)
    loop_median = loop.median if loop is not None else None
    numpy_median = numpy_row.median if numpy_row is not None else None
    peaks = peaks or {}
    peak_flops = peaks.get(f"flops_{result.dtype}")
    peak_bandwidth = peaks.get("bandwidth")
    for r in result.rows:
        r.speedup_vs_loop = _ratio(loop_median, r.median)
        r.speedup_vs_numpy = _ratio(numpy_median, r.median)
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
