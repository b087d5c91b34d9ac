"""pytest-benchmark over :mod:`fastnn.bench`'s cases (the same ones ``fastnn bench`` runs).

    pytest benches --benchmark-only                      # quick budgets (default)
    pytest benches --benchmark-only --fastnn-mode full   # every fit, more rounds
    pytest benches --benchmark-only --fastnn-threads 1   # steadier on a busy shared host

One benchmark group per case, every row in it; speed-ups against the lecture's loop (dot
case) and the numpy backend, with their spreads, go to ``extra_info`` and into a table at
the end of the run (unsteady figures marked, as in ``fastnn bench``).
The host's BLAS, thread counts and fastnn's backends go to the machine info of saved runs.
"""

from __future__ import annotations

import pytest

from fastnn.bench import host, peers, report, runner
from fastnn.bench.cases import Case
from fastnn.bench.results import CaseResult
from fastnn.bench.runner import FULL, QUICK, Mode

RESULTS = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fastnn")
    group.addoption(
        "--fastnn-mode",
        choices=("quick", "full"),
        default="quick",
        help="fastnn bench's budgets and rounds: quick (default) or full",
    )
    group.addoption(
        "--fastnn-threads",
        type=int,
        default=None,
        metavar="N",
        help="limit fastnn's kernels, the BLAS/OpenMP runtimes and PyTorch to N threads (like --threads)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = {}  # case name -> CaseResult, rows in run order


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["fastnn_host"] = host.describe_host()
    machine_info["blas"] = host.blas_info()


@pytest.fixture(scope="session", autouse=True)
def thread_limit(request: pytest.FixtureRequest):
    """``--fastnn-threads N``: every thread pool limited to N for the session."""
    threads = request.config.getoption("--fastnn-threads")
    if threads is not None:
        host.describe_host()  # loads the backends: their thread pools must exist to be limited
        peers.describe()
    with runner.thread_limit(threads) as limited:
        yield limited


@pytest.fixture(scope="session")
def bench_mode(request: pytest.FixtureRequest) -> Mode:
    return FULL if request.config.getoption("--fastnn-mode") == "full" else QUICK


@pytest.fixture(scope="session")
def bench_peaks(bench_mode: Mode) -> dict:
    """The host's measured peaks (for the % columns of the summary table)."""
    return host.measure_peaks(bench_mode.peak_repeat)


@pytest.fixture(scope="session")
def bench_results(request: pytest.FixtureRequest) -> dict[str, CaseResult]:
    return request.config.stash[RESULTS]


@pytest.fixture(scope="session")
def case_data():
    """``get(case)``: the case's data, built once; only the current case is kept."""
    cache: dict[Case, dict] = {}

    def get(case: Case) -> dict:
        if case not in cache:
            cache.clear()
            cache[case] = case.build()
        return cache[case]

    return get


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, {})
    if any(r.median is not None for c in results.values() for r in c.rows):
        terminalreporter.write_sep("=", "fastnn: speed-ups from the medians of this run")
        terminalreporter.write_line(report.format_table(list(results.values())))
