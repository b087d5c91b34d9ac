"""fastnn's benchmark cases and the machinery of ``fastnn bench``.

One source of truth for the command line (``fastnn bench``) and the pytest-benchmark
suite (``benches/``):

:mod:`~fastnn.bench.cases`    the cases (the lecture's dot product, ``propagate``,
                              ``train_step``, whole fits) and their rows
:mod:`~fastnn.bench.peers`    PyTorch (eager, ``torch.compile``), JAX and scikit-learn rows
:mod:`~fastnn.bench.timing`   batches, calibration, interleaved rounds, medians
:mod:`~fastnn.bench.runner`   modes (quick, full), schedules (quiet, mixed), budgets, thread
                              limits, running the cases
:mod:`~fastnn.bench.results`  spreads, marks, speed-ups and rates derived from the samples
:mod:`~fastnn.bench.host`     the host's description and measured peaks
:mod:`~fastnn.bench.startup`  ``import fastnn``, the numba warm-up and first-call times
:mod:`~fastnn.bench.check`    ``--check``: ratio floors for CI
:mod:`~fastnn.bench.report`   the header, table, headline, JSON and chart
:mod:`~fastnn.bench.docs`     markdown tables from a saved run, for the docs

``import fastnn`` does not import this package.
"""

from __future__ import annotations

from fastnn.bench.cases import BACKENDS, Case, Row, Unavailable, all_cases, select_cases
from fastnn.bench.results import CaseResult, RowResult, derive
from fastnn.bench.runner import FULL, QUICK, Mode, Selection, prepare_row, run_benchmarks, run_case

__all__ = [
    "BACKENDS",
    "FULL",
    "QUICK",
    "Case",
    "CaseResult",
    "Mode",
    "Row",
    "RowResult",
    "Selection",
    "Unavailable",
    "all_cases",
    "derive",
    "prepare_row",
    "run_benchmarks",
    "run_case",
    "select_cases",
]
