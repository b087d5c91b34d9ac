"""Running the cases: modes, row selection, budgets, warm-up, calibration, interleaved rounds.

For each case: build its data once; prepare every selected row (its callable; a probe on a
smaller case where the row may be too slow to run — the python backend everywhere, every
row of a whole fit — which also compiles numba kernels; a warm-up call; a batch size);
then time the rows in interleaved rounds and derive medians, spreads, speed-ups and rates.

Two schedules decide what happens before each batch:

``quiet`` (default)
    wait until the threads the rows before left spinning have gone to sleep
    (:func:`~fastnn.bench.timing.settle`): each row is timed on its own.
``mixed``
    no waiting; a small multi-threaded ``np.dot`` runs right before each batch, so NumPy's
    BLAS thread pool is awake and spinning while the row runs — fastnn as users meet it,
    between NumPy calls of their own program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from fastnn.bench.cases import BACKENDS, REFERENCE_ROW, Case, Row, Unavailable
from fastnn.bench.peers import PEERS, peer_of
from fastnn.bench.results import ERROR, SKIPPED, UNAVAILABLE, CaseResult, RowResult, case_result, derive
from fastnn.bench.timing import (
    SETTLE_SECONDS,
    calibrate,
    interleave,
    resized_batch,
    rounds_for,
    settle,
    time_batch,
)

__all__ = [
    "FULL",
    "QUICK",
    "Mode",
    "Prepared",
    "Selection",
    "format_seconds",
    "numpy_work",
    "prepare_row",
    "run_benchmarks",
    "run_case",
    "thread_limit",
]

#: A probe of the python backend does about this much work (a few ms of Python loops).
PYTHON_PROBE_FLOPS = 1e5
#: A probe of a whole fit runs this fraction of its iterations.
FIT_PROBE_FRACTION = 1 / 100


@dataclass(frozen=True)
class Mode:
    """How hard to measure.

    Parameters
    ----------
    rounds, min_rounds, row_seconds
        Samples per row: ``rounds``, cut so a row stays within ``row_seconds`` of timing,
        never below ``min_rounds`` (one sample when a single call outlasts ``row_seconds``).
    batch_seconds
        Each sample times a batch of calls lasting at least this long.
    python_budget
        The python backend runs a case only if its probe estimates at most this many
        seconds per call.
    call_budget
        Every row of a whole fit runs only if estimated at most this many seconds per call
        (``None``: no limit).  Probes estimate from a small fraction of the iterations.
    check_rounds
        Samples per row, at least, for the rows ``--check`` reads.
    peak_repeat, import_repeat
        Runs of the peak measurements (best taken) and of ``import fastnn`` (median).
    numba_cold_start
        Whether the numba backend's first call is measured with a cold cache (a fresh
        ``NUMBA_CACHE_DIR``: it compiles everything) as well as a warm one.
    schedule
        ``"quiet"`` or ``"mixed"``: what precedes each batch (see the module docstring).
    """

    name: str
    rounds: int
    min_rounds: int
    batch_seconds: float
    row_seconds: float
    python_budget: float
    call_budget: float | None
    check_rounds: int
    peak_repeat: int
    import_repeat: int
    numba_cold_start: bool
    schedule: str = "quiet"

    def with_repeat(self, n: int) -> Mode:
        """This mode with exactly ``n`` rounds for every row (``--repeat``)."""
        return dataclasses.replace(
            self, rounds=n, min_rounds=n, check_rounds=n, peak_repeat=n, import_repeat=n
        )


QUICK = Mode(
    "quick",
    rounds=7,
    min_rounds=1,
    batch_seconds=0.005,
    row_seconds=1.5,
    python_budget=0.5,
    call_budget=3.0,
    check_rounds=11,
    peak_repeat=3,
    import_repeat=3,
    numba_cold_start=False,
)
FULL = Mode(
    "full",
    rounds=21,
    min_rounds=3,
    batch_seconds=0.02,
    row_seconds=30.0,
    python_budget=2.0,
    call_budget=60.0,
    check_rounds=21,
    peak_repeat=5,
    import_repeat=5,
    numba_cold_start=True,
)


@dataclass(frozen=True)
class Selection:
    """Which rows run: fastnn ``backends`` (numpy always: it is the reference) and ``peers``.

    The course's baselines always run (the dot case's speed-ups are against the loop).
    """

    backends: tuple[str, ...] = BACKENDS
    peers: tuple[str, ...] = PEERS

    def includes(self, row: Row) -> bool:
        if row.kind == "backend":
            return row.name == REFERENCE_ROW or row.name in self.backends
        if row.kind == "peer":
            return peer_of(row) in self.peers
        return True


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[dict]:
    """Run the block with every thread pool of this process limited to ``threads``.

    fastnn's kernels (:func:`fastnn.tuning.override`), the BLAS and OpenMP runtimes loaded
    so far (threadpoolctl) and PyTorch's intra-op pool when it is imported; all restored
    afterwards.  ``None`` changes nothing.  Yields what was set (``{}`` for nothing).
    JAX's XLA runtime keeps its own pool: it is not limited.
    """
    if threads is None:
        yield {}
        return
    from threadpoolctl import threadpool_limits

    from fastnn import tuning

    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads), tuning.override(num_threads=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield {"threads": threads, "torch": torch is not None}
        finally:
            if torch is not None:
                torch.set_num_threads(torch_before)


def blas_limit(threads: int | None) -> Callable[[], AbstractContextManager]:
    """A factory of contexts running code with the BLAS limited to ``threads`` threads
    (``None``: a no-op).  The limit is set outside the timed region."""
    if threads is None:
        return contextlib.nullcontext
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    return functools.partial(controller.limit, limits=threads, user_api="blas")


@dataclass
class Prepared:
    """A row ready to time (``fn`` is ``None`` when it will not run: see ``result.status``)."""

    result: RowResult
    fn: Callable[[], Any] | None = None
    number: int = 0
    rounds: int = 0
    context: Callable[[], AbstractContextManager] = contextlib.nullcontext
    batch_seconds: float = 0.0
    per_call: float = 0.0
    before_batch: Callable[[], object] | None = None

    def sample(self) -> float:
        """Seconds per call of one batch; a batch that ran far too long shrinks the next.

        A batch starts with one untimed call unless a single call outlasts a whole batch:
        after a pause, the first call wakes the row's sleeping thread pool and refills its
        caches, while the figure wanted is a call in a loop, as in training.  A batch of one
        short call needs it most: a calibration that saw one slow call (right after numba
        compiled) leaves batches of one.  ``before_batch`` (the mixed schedule's NumPy work)
        runs after that call, outside the row's BLAS limit, right before the timed batch.
        """
        if self.per_call < self.batch_seconds:
            with self.context():
                self.fn()
        if self.before_batch is not None:
            self.before_batch()
        with self.context():
            self.per_call = time_batch(self.fn, self.number)
        self.number = resized_batch(self.number, self.per_call, self.batch_seconds)
        self.result.batch = self.number
        return self.per_call


#: The mixed schedule's NumPy work: a square ``np.dot`` of this size, large enough that
#: OpenBLAS runs it on all its threads (it stays single-threaded below ``m n k = 64**3``).
NUMPY_WORK_N = 128


def numpy_work(dtype: str) -> Callable[[], object]:
    """A multi-threaded ``np.dot`` in ``dtype``: it leaves NumPy's BLAS pool spinning."""
    import numpy as np

    a = np.random.RandomState(0).standard_normal((NUMPY_WORK_N, NUMPY_WORK_N)).astype(dtype)
    out = np.empty_like(a)
    return functools.partial(np.dot, a, a, out=out)


def format_seconds(seconds: float) -> str:
    """``3.2e-06`` -> ``3.2 µs``: three significant digits in ns, µs, ms or s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _probe(case: Case, row: Row, probe_data: dict) -> tuple[float, float]:
    """Seconds per call of ``row`` on ``case``, estimated from a smaller case, and the
    seconds of the first call there (a warm-up: numba compiles the kernels it needs)."""
    max_flops = PYTHON_PROBE_FLOPS if row.name == "python" else case.flops * FIT_PROBE_FRACTION
    small, ratio = case.shrunk(max_flops)
    if small not in probe_data:
        probe_data[small] = small.build()
    fn = row.make(small, probe_data[small])
    first = time_batch(fn, 1)
    seconds = time_batch(fn, 1)
    return (seconds * ratio if row.scales_with_work else seconds), first


def prepare_row(
    case: Case, row: Row, data: dict, mode: Mode, min_rounds: int = 0, probe_data: dict | None = None
) -> Prepared:
    """Make ``row``'s callable on ``data``, decide whether it runs, warm it up and size its
    batches and rounds.  Never raises for a row that cannot run: the result says why."""
    result = RowResult(row.name, row.label, row.kind)
    context = blas_limit(row.blas_threads)
    try:
        with context():
            fn, number, per_call = _warm_and_calibrate(case, row, data, mode, result, probe_data)
        if fn is None:
            return Prepared(result)
    except Unavailable as exc:
        result.status, result.reason = UNAVAILABLE, str(exc)
        return Prepared(result)
    except Exception as exc:  # a broken row must not stop the run: it is reported
        result.status, result.reason = ERROR, f"{type(exc).__name__}: {exc}"
        return Prepared(result)
    if number == 1:
        result.times.append(per_call)  # a single long call is a sample already
    rounds = rounds_for(number * per_call, mode.rounds, mode.min_rounds, mode.row_seconds)
    result.batch = number
    return Prepared(result, fn, number, max(rounds, min_rounds), context, mode.batch_seconds, per_call)


def _warm_and_calibrate(
    case: Case, row: Row, data: dict, mode: Mode, result: RowResult, probe_data: dict | None
):
    """``(fn, number, per_call)``, or ``(None, 0, 0.0)`` with ``result`` marked skipped when a
    probe estimates the row above its budget."""
    fn = row.make(case, data)
    budget = mode.python_budget if row.name == "python" else mode.call_budget if case.is_fit else None
    probed = row.name == "python" or case.is_fit
    if probed:
        result.estimate, result.first_call = _probe(case, row, {} if probe_data is None else probe_data)
        if budget is not None and result.estimate > budget:
            which = "python-loop" if row.name == "python" else f"--{mode.name} per-call"
            result.status = SKIPPED
            result.reason = (
                f"est. {format_seconds(result.estimate)}/call > {format_seconds(budget)} {which} budget"
            )
            return None, 0, 0.0
    if not probed or row.jit:
        # warm-up: numba compiles here (or loads from its cache), a JIT peer compiles for
        # this case's shapes, caches and pages warm up
        result.first_call = max(time_batch(fn, 1), result.first_call or 0.0)
    number, per_call = calibrate(fn, mode.batch_seconds)
    return fn, number, per_call


class _Progress:
    """tqdm on stderr (when installed and stderr is a terminal), growing as rows are planned."""

    def __init__(self, enabled: bool) -> None:
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(
                total=0, unit="sample", desc="fastnn bench", leave=False, dynamic_ncols=True, disable=None
            )

    def plan(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n
            self.bar.refresh()

    def step(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_case(
    case: Case,
    mode: Mode,
    selection: Selection = Selection(),
    *,
    required_rows: Iterable[str] = (),
    peaks: dict | None = None,
    progress: _Progress | None = None,
) -> CaseResult:
    """Time every selected row of ``case`` (plus ``required_rows``, with at least
    ``mode.check_rounds`` rounds) in interleaved rounds."""
    started = time.perf_counter()
    progress = progress or _Progress(False)
    required = set(required_rows)
    result = case_result(case)
    data = case.build()
    probe_data: dict = {}
    prepared: list[Prepared] = []
    rows = [row for row in case.rows() if selection.includes(row) or row.name in required]
    progress.plan(len(rows))
    for row in rows:
        progress.step(f"{case.name} {row.name}: warm-up")
        min_rounds = mode.check_rounds if row.name in required else 0
        p = prepare_row(case, row, data, mode, min_rounds, probe_data)
        result.rows.append(p.result)
        if p.fn is not None:
            prepared.append(p)
            progress.plan(p.rounds - len(p.result.times))
    rounds = [p.rounds for p in prepared]
    samples = [p.result.times for p in prepared]
    at_least = [max(mode.min_rounds, mode.check_rounds if p.result.row in required else 0) for p in prepared]
    spent = [sum(p.result.times) * p.number for p in prepared]  # a calibration sample counts too

    def sampler(i: int) -> Callable[[], float | None]:
        def sample() -> float | None:
            p = prepared[i]
            number = p.number  # sample() may shrink it for the next batch
            try:
                seconds = p.sample()
            except Exception as exc:  # reported, and the row stops; the others go on
                p.result.status, p.result.reason = ERROR, f"{type(exc).__name__}: {exc}"
                rounds[i] = 0
                return None
            # a calibration on a quiet moment can undersize a row's time: the budget holds anyway
            spent[i] += seconds * number
            taken = len(samples[i]) + 1
            if spent[i] >= mode.row_seconds and taken >= at_least[i]:
                rounds[i] = min(rounds[i], taken)
            return seconds

        return sample

    def on_sample(i: int) -> None:
        progress.step(f"{case.name} {prepared[i].result.row}")

    gave_up = [False]

    def before() -> None:
        """Let the pools of the rows before go to sleep; a thread that never sleeps (a busy
        user thread, an OpenMP pool told to wait actively) is waited for once per case."""
        if not gave_up[0]:
            gave_up[0] = settle() >= SETTLE_SECONDS

    if mode.schedule == "mixed":
        work = numpy_work(case.dtype)
        for p in prepared:
            p.before_batch = work
    interleave(
        [sampler(i) for i in range(len(prepared))],
        rounds,
        samples,
        on_sample,
        before=before if mode.schedule == "quiet" else None,
    )
    result.wall_seconds = time.perf_counter() - started
    return derive(result, peaks)


def run_benchmarks(
    cases: Sequence[Case],
    mode: Mode,
    selection: Selection = Selection(),
    *,
    required: Mapping[str, Iterable[str]] | None = None,
    peaks: dict | None = None,
    show_progress: bool = True,
) -> list[CaseResult]:
    """Run ``cases`` in order; ``required`` maps case names to rows that must run (``--check``)."""
    required = required or {}
    progress = _Progress(show_progress)
    try:
        results = []
        for case in cases:
            results.append(
                run_case(
                    case,
                    mode,
                    selection,
                    required_rows=required.get(case.name, ()),
                    peaks=peaks,
                    progress=progress,
                )
            )
        return results
    finally:
        progress.close()
