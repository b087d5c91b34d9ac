"""One benchmark per (case, row) of :func:`fastnn.bench.all_cases`, grouped by case.

Rows run in the case's order, references first (the lecture's loop, then the numpy
backend), so each later row stores its speed-ups in ``benchmark.extra_info``.  Rows that
cannot run (a backend not built, a peer not installed, the python loops over budget) are
skipped with the reason.
"""

from __future__ import annotations

import pytest

from fastnn.bench import all_cases, derive
from fastnn.bench.results import case_result
from fastnn.bench.runner import prepare_row

PAIRS = [(case, row) for case in all_cases() for row in case.rows()]


@pytest.mark.parametrize(("case", "row"), PAIRS, ids=[f"{c.name}-{r.name}" for c, r in PAIRS])
def test_bench(benchmark, case, row, bench_mode, bench_peaks, bench_results, case_data):
    benchmark.group = case.name
    result = bench_results.setdefault(case.name, case_result(case))
    prepared = prepare_row(case, row, case_data(case), bench_mode)  # warm-up (numba compiles) + batch size
    result.rows.append(prepared.result)
    if prepared.fn is None:
        pytest.skip(prepared.result.cell_note())
    earlier = prepared.result.times  # a single long calibration call already counts
    with prepared.context():
        benchmark.pedantic(
            prepared.fn, rounds=max(1, prepared.rounds - len(earlier)), iterations=prepared.number
        )
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing measured
        return
    prepared.result.times = earlier + list(benchmark.stats.stats.data)
    derive(result, bench_peaks)
    r = prepared.result
    benchmark.extra_info.update(
        {
            "speedup_vs_loop": r.speedup_vs_loop,
            "speedup_vs_numpy": r.speedup_vs_numpy,
            "speedup_vs_numpy_spread": r.speedup_vs_numpy_spread,
            "gflops": r.gflops,
            "gbps": r.gbps,
            "pct_peak_flops": r.pct_peak_flops,
            "pct_peak_bandwidth": r.pct_peak_bandwidth,
            "row": r.label,
        }
    )
