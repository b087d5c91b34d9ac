"""Unit tests of the benchmark machinery (``fastnn.bench``, ``fastnn bench``, ``fastnn info``).

Fast and free of wall-clock assertions: timings are made up where arithmetic is tested,
and real runs are tiny (one round, small cases) and checked for shape, not speed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

import fastnn
from fastnn.__main__ import main
from fastnn.bench import check, docs, host, report, runner, startup, timing
from fastnn.bench.cases import (
    BACKENDS,
    LOOP_ROW,
    NP_DOT_1T_ROW,
    Case,
    Row,
    Unavailable,
    all_cases,
    select_cases,
)
from fastnn.bench.results import (
    ERROR,
    MARK,
    OK,
    SKIPPED,
    UNAVAILABLE,
    CaseResult,
    RowResult,
    case_result,
    derive,
    lecture_headline,
)

SMALL_STEP = "train_step[2x4x400,float64]"


def tiny_mode(**changes) -> runner.Mode:
    """One round per row, plus ``changes``."""
    return dataclasses.replace(runner.QUICK.with_repeat(1), **changes)


# --- the cases ----------------------------------------------------------------------------


def test_the_course_cases_are_all_there():
    names = [c.name for c in all_cases()]
    assert len(names) == len(set(names))
    assert names[0] == "dot[1000000,float64]"
    for n_x, m in ((2, 400), (30, 569), (12288, 209)):
        assert f"propagate[{n_x}x{m},float64]" in names
    for dtype in ("float64", "float32"):
        for dims in ("2x4x400", "2x4x4000", "30x16x569", "12288x7x209", "784x128x1000"):
            assert f"train_step[{dims},{dtype}]" in names
    assert "nn_model[planar,n_h=4,10000it,float64]" in names
    assert "optimize[12288x209,2000it,float64]" in names


def test_rows_put_the_references_first():
    for case in all_cases():
        rows = [r.name for r in case.rows()]
        assert len(rows) == len(set(rows)), case.name
        assert set(BACKENDS) <= set(rows)
        kinds = [r.kind for r in case.rows()]
        assert kinds == sorted(kinds, key=["baseline", "backend", "peer"].index), case.name
        first_backend = kinds.index("backend")
        assert rows[first_backend] == "numpy"
        if case.kind == "dot":
            assert rows[:4] == [LOOP_ROW, "list-loop", "np.dot", NP_DOT_1T_ROW]
    fits = {c.kind: {r.name for r in c.rows()} for c in all_cases() if c.is_fit}
    compiling = {"torch-compile", "jax-jit"}
    assert {"torch", "torch-autograd", "sklearn-mlp"} | compiling <= fits["nn_model"]
    assert {"torch", "torch-autograd", "sklearn-lbfgs"} | compiling <= fits["optimize"]
    step = next(c for c in all_cases() if c.kind == "train_step")
    assert all(r.jit == (r.name in compiling) for r in step.rows())


def test_select_cases_by_substring():
    assert [c.name for c in select_cases(["dot"])] == ["dot[1000000,float64]"]
    both = select_cases(["2x4x400,", "nn_model"])
    assert [c.name for c in both] == [
        SMALL_STEP,
        "train_step[2x4x400,float32]",
        "nn_model[planar,n_h=4,10000it,float64]",
    ]
    assert select_cases([]) == all_cases()
    assert select_cases(["no such case"]) == []


@pytest.mark.parametrize("case", [c for c in all_cases() if c.kind != "optimize"], ids=lambda c: c.name)
def test_cases_build_valid_deterministic_data(case):
    data = case.build()
    if case.kind == "dot":
        n = case.dim("n")
        assert data["a"].shape == data["b"].shape == (n,) and data["a"].dtype == np.float64
        assert len(data["a_list"]) == n and data["a_list"][:3] == data["a"][:3].tolist()
        return
    X, Y = data["X"], data["Y"]
    m = case.dim("m")
    assert X.shape == (case.dim("n_x"), m) and X.dtype == case.dtype and X.flags.c_contiguous
    assert Y.shape == (1, m) and Y.dtype == case.dtype
    assert set(np.unique(Y)) <= {0.0, 1.0} and 0 < Y.mean() < 1
    if case.dataset == "planar":
        np.testing.assert_array_equal(X, fastnn.datasets.load_planar()[0].astype(case.dtype))
    again = case.build()
    np.testing.assert_array_equal(again["X"], X)


def test_logreg_fit_data_is_scaled_but_the_same_shape():
    (case,) = select_cases(["optimize"])
    data = case.build()
    assert data["X"].shape == (12288, 209)
    assert 0.05 < data["X"].std() < 0.2  # standard normal, scaled for a course-like cost curve


def test_work_model_and_shrinking():
    step = Case("train_step", (("n_x", 30), ("n_h", 16), ("m", 569)))
    assert step.flops == 4 * 16 * 30 * 569 + 6 * 16 * 569
    assert step.bytes == (30 * 569 + 569 + 2 * (16 * 30 + 16 + 16 + 1)) * 8
    small, ratio = step.shrunk(1e5)
    assert small.kind == "train_step" and small.flops <= 1e5 and small.dim("n_x") == 30
    assert math.isclose(ratio, step.flops / small.flops)
    (fit,) = select_cases(["nn_model"])
    fewer, ratio = fit.shrunk(fit.flops / 100)
    assert fewer.iterations == fit.iterations // 100 and fewer.dims == fit.dims and ratio == 100
    assert fit.shrunk(fit.flops) == (fit, 1.0)
    tiny, _ = select_cases(["optimize"])[0].shrunk(1e5)
    assert tiny.iterations == 1 and tiny.dim("m") < 209 and tiny.flops <= 1e5


def test_train_step_rows_go_through_the_public_api_and_update_in_place():
    case = Case("train_step", (("n_x", 3), ("n_h", 2), ("m", 20)))
    data = case.build()
    (row,) = [r for r in case.rows() if r.name == "numpy"]
    fn = row.make(case, data)
    cost_1, cost_2 = fn(), fn()  # the row's own parameters move in place, call after call
    assert isinstance(cost_1, float) and cost_1 != cost_2


def test_every_backend_row_runs_or_says_why():
    case = Case("propagate", (("n_x", 3), ("m", 10)))
    data = case.build()
    for row in case.rows():
        if row.kind != "backend":
            continue
        try:
            grads, cost = row.make(case, data)()
        except Unavailable as exc:
            assert str(exc)
            continue
        assert grads["dw"].shape == (3, 1) and np.isfinite(cost)


# --- deriving figures from timings --------------------------------------------------------


def made_up_dot_result() -> CaseResult:
    (case,) = select_cases(["dot"])
    result = case_result(case)
    result.rows = [
        RowResult(LOOP_ROW, "loop", "baseline", times=[0.30, 0.10, 0.20]),
        RowResult("np.dot", "np.dot", "baseline", times=[0.001, 0.004, 0.002, 0.003]),
        RowResult("numpy", "fastnn numpy", "backend", times=[0.004]),
        RowResult("python", "fastnn python", "backend", status=SKIPPED, reason="est. 9 s/call > 2 s budget"),
        RowResult("cython", "fastnn cython", "backend", status=UNAVAILABLE, reason="not built"),
    ]
    return result


def test_derive_computes_medians_ratios_and_rates():
    peaks = {"flops_float64": 1e11, "flops_float32": 2e11, "bandwidth": 2e10}
    result = derive(made_up_dot_result(), peaks)
    loop, np_dot, numpy_row, python, cython = result.rows
    assert loop.median == 0.20 and np_dot.median == 0.0025 and numpy_row.median == 0.004
    assert loop.speedup_vs_loop == 1.0
    assert math.isclose(np_dot.speedup_vs_loop, 80.0)
    assert math.isclose(np_dot.speedup_vs_numpy, 1.6)
    assert math.isclose(loop.speedup_vs_numpy, 0.02)
    assert math.isclose(np_dot.gbps, 16e6 / 0.0025 / 1e9)
    assert math.isclose(np_dot.pct_peak_bandwidth, 100 * 16e6 / 0.0025 / 2e10)
    assert np_dot.gflops is None  # the dot case reports bandwidth only
    for r in (python, cython):
        assert r.median is None and r.speedup_vs_loop is None and r.gbps is None


def test_derive_rates_of_a_training_step():
    case = Case("train_step", (("n_x", 2), ("n_h", 4), ("m", 400)), "float32")
    result = case_result(case)
    result.rows = [
        RowResult("numpy", "n", "backend", times=[2e-5]),
        RowResult("numba", "b", "backend", times=[5e-6]),
    ]
    derive(result, {"flops_float32": 1e11, "flops_float64": 5e10, "bandwidth": 1e10})
    numba = result.rows[1]
    assert math.isclose(numba.speedup_vs_numpy, 4.0) and numba.speedup_vs_loop is None
    assert math.isclose(numba.gflops, case.flops / 5e-6 / 1e9)
    assert math.isclose(numba.pct_peak_flops, 100 * case.flops / 5e-6 / 1e11)  # float32's peak
    assert math.isclose(numba.pct_peak_bandwidth, 100 * case.bytes / 5e-6 / 1e10)


def test_table_shows_times_ratios_and_why_cells_are_empty():
    text = report.format_table([derive(made_up_dot_result())])
    assert "dot[1000000,float64]" in text
    assert "skipped: est. 9 s/call > 2 s budget" in text
    assert "unavailable: not built" in text
    assert "80x" in text and "200 ms" in text and "2.5 ms" in text


def test_json_document_round_trips():
    result = derive(made_up_dot_result())
    doc = json.loads(report.to_json({"schema": report.SCHEMA, "cases": [result.to_dict()]}))
    rows = {r["row"]: r for r in doc["cases"][0]["rows"]}
    assert rows["np.dot"]["median"] == 0.0025 and rows["np.dot"]["speedup_vs_loop"] == pytest.approx(80.0)
    assert rows["cython"]["status"] == "unavailable" and rows["cython"]["reason"] == "not built"


def test_chart_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    results = [derive(made_up_dot_result())]
    for name in ("chart.png", "chart.svg"):
        path = report.plot_speedups(results, tmp_path / name)
        assert path.stat().st_size > 0
    assert (tmp_path / "chart.svg").read_text().lstrip().startswith("<?xml")


# --- the --check floors -------------------------------------------------------------------


def made_up_step_result(numba: float | None, cython: float | None) -> CaseResult:
    (case,) = select_cases([SMALL_STEP])
    result = case_result(case)
    result.rows = [RowResult("numpy", "n", "backend", times=[1e-4])]
    for name, t in (("numba", numba), ("cython", cython)):
        if t is None:
            result.rows.append(RowResult(name, name, "backend", status=UNAVAILABLE, reason="not built"))
        else:
            result.rows.append(RowResult(name, name, "backend", times=[t]))
    return derive(result)


def test_check_passes_fails_and_skips_from_ratios():
    dot = made_up_dot_result()
    dot.rows.append(RowResult(NP_DOT_1T_ROW, "1t", "baseline", times=[0.001]))
    results = [derive(dot), made_up_step_result(numba=5e-5, cython=2e-4)]
    outcomes = check.evaluate(results, in_ci=False)
    assert [o.status for o in outcomes] == ["PASS", "PASS", "FAIL"]
    assert math.isclose(outcomes[0].value, 200.0) and math.isclose(outcomes[2].value, 0.5)
    assert "PASS" in outcomes[0].line() and "200x" in outcomes[0].line() and "floor 50x" in outcomes[0].line()
    missing = check.evaluate([made_up_step_result(numba=5e-5, cython=None)], in_ci=False)
    assert [o.status for o in missing] == ["SKIP", "PASS", "SKIP"]
    assert "cython unavailable: not built" in missing[2].note
    in_ci = check.evaluate([made_up_step_result(numba=5e-5, cython=None)], in_ci=True)
    assert [o.status for o in in_ci] == ["FAIL", "PASS", "FAIL"]
    text = report.format_check(outcomes)
    assert "loose" in text and "README" in text


def test_check_requires_its_rows():
    required = check.required_rows()
    assert required["dot[1000000,float64]"] == {LOOP_ROW, NP_DOT_1T_ROW}
    assert required[SMALL_STEP] == {"numpy", "numba", "cython"}


# --- preparing rows: budgets, unavailable rows, errors -------------------------------------


def test_python_rows_over_budget_are_skipped_with_the_estimate():
    case = Case("train_step", (("n_x", 30), ("n_h", 16), ("m", 569)))
    row = next(r for r in case.rows() if r.name == "python")
    prepared = runner.prepare_row(case, row, case.build(), tiny_mode(python_budget=1e-9))
    assert prepared.fn is None and prepared.result.status == SKIPPED
    assert prepared.result.reason.startswith("est. ") and "python-loop budget" in prepared.result.reason
    assert prepared.result.estimate > 0


def test_unavailable_and_broken_rows_are_reported_not_raised():
    case = Case("propagate", (("n_x", 2), ("m", 10)))

    def missing(case, data):
        raise Unavailable("libfoo is not installed")

    def broken(case, data):
        return lambda: 1 / 0

    data = case.build()
    gone = runner.prepare_row(case, Row("foo", "foo", "peer", missing), data, tiny_mode())
    assert (
        gone.fn is None
        and gone.result.status == UNAVAILABLE
        and gone.result.reason == "libfoo is not installed"
    )
    bad = runner.prepare_row(case, Row("bad", "bad", "peer", broken), data, tiny_mode())
    assert bad.fn is None and bad.result.status == ERROR and "ZeroDivisionError" in bad.result.reason


def test_unavailable_backend_gets_the_dispatch_reason(monkeypatch):
    from fastnn import _dispatch

    monkeypatch.setitem(_dispatch._failures, "cython", "ImportError: pretend it was not built")
    monkeypatch.delitem(_dispatch._loaded, "cython", raising=False)
    case = Case("propagate", (("n_x", 2), ("m", 10)))
    row = next(r for r in case.rows() if r.name == "cython")
    prepared = runner.prepare_row(case, row, case.build(), tiny_mode())
    assert prepared.result.status == UNAVAILABLE
    assert prepared.result.reason == "ImportError: pretend it was not built"


def test_run_case_interleaves_and_derives():
    case = Case("propagate", (("n_x", 2), ("m", 10)))
    selection = runner.Selection(backends=("numpy", "python"), peers=())
    result = runner.run_case(
        case, tiny_mode(rounds=3, min_rounds=3, batch_seconds=1e-4, python_budget=math.inf), selection
    )
    assert [r.row for r in result.rows] == ["numpy", "python"]
    for r in result.rows:
        assert r.status == OK and len(r.times) == 3 and r.batch >= 1 and r.median > 0
    assert result.rows[0].speedup_vs_numpy == 1.0


# --- timing helpers -----------------------------------------------------------------------


def test_interleave_takes_every_row_once_per_round():
    calls = []
    samples = [[], [], [0.5]]
    timers = [lambda i=i: calls.append(i) or float(i) for i in range(3)]
    timing.interleave(timers, [2, 3, 2], samples, on_sample=lambda i: None)
    assert calls[:3] == [0, 1, 2] and sorted(calls[3:5]) == [0, 1] and calls[5:] == [1]
    assert samples == [[0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 2.0]]


def test_interleave_changes_the_order_round_to_round_the_same_way_each_run():
    """No row always runs right after the same other row (a spinning thread pool left by
    one library's call would slow its follower in every round); the orders are seeded."""

    def orders():
        calls = []
        timers = [lambda i=i: calls.append(i) or 1.0 for i in range(4)]
        timing.interleave(timers, [20] * 4, [[] for _ in range(4)])
        return [tuple(calls[r * 4 : (r + 1) * 4]) for r in range(20)]

    first = orders()
    assert all(sorted(o) == [0, 1, 2, 3] for o in first)
    followers_of_0 = {o[o.index(0) + 1] for o in first if o.index(0) < 3}
    assert len(followers_of_0) > 1 and len(set(first)) > 4
    assert orders() == first


def test_settle_waits_for_a_running_thread_and_not_otherwise(monkeypatch, tmp_path):
    """A fake /proc/self/task and clock: this thread and a pool worker that spins until
    0.1 s (state R), then sleeps (S)."""
    me, worker = threading.get_native_id(), 12
    for tid in (me, worker):
        (tmp_path / str(tid)).mkdir()
    monkeypatch.setattr(timing, "_TASKS", str(tmp_path))
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], sleep=sleep))

    def state(worker_state_at):
        (tmp_path / str(me) / "stat").write_text(f"{me} (python) R 1 2\n")
        (tmp_path / str(worker) / "stat").write_text(f"{worker} (python) {worker_state_at} 1 2\n")

    state("S")
    assert timing.settle(timeout=0.3, poll=0.01) == 0.0  # a sleeping thread is not waited for
    state("R")
    clock[0] = 0.0
    monkeypatch.setattr(
        timing,
        "time",
        types.SimpleNamespace(
            perf_counter=lambda: clock[0], sleep=lambda s: sleep(s) or (clock[0] >= 0.1 and state("S"))
        ),
    )
    assert timing.settle(timeout=0.3, poll=0.01) == pytest.approx(0.1, abs=0.011)
    state("R")
    clock[0] = 0.0
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], sleep=sleep))
    assert timing.settle(timeout=0.3, poll=0.01) == pytest.approx(0.3, abs=0.011)  # gives up


def test_interleave_calls_before_before_each_sample():
    events = []
    timers = [lambda i=i: events.append(i) or 1.0 for i in range(2)]
    timing.interleave(timers, [2, 1], [[], []], before=lambda: events.append("settle"))
    assert events[:4] == ["settle", 0, "settle", 1] and events[4:] == ["settle", 0]


def test_rounds_for_and_median():
    assert timing.rounds_for(0.01, rounds=7, min_rounds=1, row_seconds=1.0) == 7
    assert timing.rounds_for(0.4, rounds=7, min_rounds=1, row_seconds=1.0) == 2
    assert timing.rounds_for(0.5, rounds=7, min_rounds=3, row_seconds=1.0) == 3
    assert timing.rounds_for(5.0, rounds=7, min_rounds=3, row_seconds=1.0) == 1
    assert timing.median([3.0, 1.0, 2.0]) == 2.0 and timing.median([]) is None


def test_calibrate_returns_a_batch_size():
    number, per_call = timing.calibrate(lambda: sum(range(100)), batch_seconds=1e-3)
    assert number >= 1 and per_call > 0


def test_format_seconds():
    assert runner.format_seconds(3.21e-6) == "3.21 µs"
    assert runner.format_seconds(0.25) == "250 ms"
    assert runner.format_seconds(12.0) == "12 s"
    assert runner.format_seconds(5e-8) == "50 ns"


# --- host and start-up ---------------------------------------------------------------------


def test_simd_level_from_flags():
    assert host.simd_level({"sse2", "avx", "avx2", "avx512f"}) == "AVX-512"
    assert host.simd_level({"sse2", "sse4_2", "avx", "avx2"}) == "AVX2"
    assert host.simd_level({"sse2"}) == "SSE2"
    assert host.simd_level({"fp", "asimd"}) == "NEON"
    assert host.simd_level(set()) == "unknown"


def test_describe_host_reports_backends_blas_and_versions():
    info = host.describe_host()
    assert info["cpu"]["logical_cores"] >= 1 and info["cpu"]["simd"]
    names = {b["name"] for b in info["fastnn"]["backends"]}
    assert set(BACKENDS) <= names
    for b in info["fastnn"]["backends"]:
        assert b["available"] or b["reason"]
    assert info["versions"]["numpy"] == np.__version__
    assert info["fastnn"]["threads"] == fastnn.get_num_threads()
    json.dumps(info, default=str)


def test_measure_import_in_a_fresh_interpreter():
    figures = startup.measure_import(repeat=1)
    assert figures["fastnn"] > 0 and figures["total"] >= figures["numpy"]


def test_import_fastnn_stays_light():
    code = (
        "import sys, fastnn\n"
        "heavy = [m for m in ('fastnn.bench', 'torch', 'sklearn', 'matplotlib', 'threadpoolctl', 'numba')"
        " if m in sys.modules]\n"
        "import fastnn.bench\n"
        "heavy += [m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    source_root = os.path.dirname(os.path.dirname(fastnn.__file__))
    env = {**os.environ, "PYTHONPATH": source_root}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def no_python_budget(monkeypatch):
    """The python row always runs: one slow probe on a loaded host must not skip it."""
    monkeypatch.setattr(runner, "QUICK", dataclasses.replace(runner.QUICK, python_budget=1e9))


def test_cli_bench_tiny_run_writes_json(tmp_path, capsys, no_python_budget):
    path = tmp_path / "bench.json"
    status = main(
        [
            "bench",
            "--cases",
            SMALL_STEP,
            "--repeat",
            "1",
            "--json",
            str(path),
            "--no-startup",
            "--peers",
            "none",
            "--backends",
            "numpy,python",
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "cpu " in out and "peaks" in out and SMALL_STEP in out and "wall time" in out
    doc = json.loads(path.read_text())
    assert doc["schema"] == report.SCHEMA and doc["mode"]["rounds"] == 1
    assert doc["command"][:4] == ["fastnn", "bench", "--cases", SMALL_STEP]
    assert doc["peaks"]["flops_float64"] > 0 and doc["peaks"]["bandwidth"] > 0
    (case,) = doc["cases"]
    rows = {r["row"]: r for r in case["rows"]}
    assert set(rows) == {"numpy", "python"}
    for r in rows.values():
        assert r["status"] == "ok" and len(r["times"]) == 1 and r["median"] > 0 and r["gflops"] > 0
    assert rows["numpy"]["speedup_vs_numpy"] == 1.0


def test_cli_check_exit_status_follows_the_floors(monkeypatch, tmp_path, capsys, no_python_budget):
    impossible = check.Floor(SMALL_STEP, "python", "numpy", 1e12, "made-up floor")
    trivial = check.Floor(SMALL_STEP, "numpy", "python", 0.0, "made-up floor")
    args = [
        "bench",
        "--cases",
        SMALL_STEP,
        "--repeat",
        "1",
        "--no-json",
        "--no-startup",
        "--peers",
        "none",
        "--check",
        "--no-warmup",
    ]
    fake_peaks = {
        "gemm_n": 1,
        "copy_mib": 1,
        "repeat": 1,
        "flops_float64": 1e9,
        "flops_float32": 1e9,
        "bandwidth": 1e9,
    }
    monkeypatch.setattr(host, "measure_peaks", lambda repeat: fake_peaks)  # not what this test is about
    monkeypatch.setattr(check, "FLOORS", (trivial,))
    assert main(args) == 0
    assert "PASS  made-up floor" in capsys.readouterr().out
    monkeypatch.setattr(check, "FLOORS", (trivial, impossible))
    assert main(args) == 1
    assert "FAIL  made-up floor" in capsys.readouterr().out


def test_cli_list_and_bad_arguments(capsys):
    assert main(["bench", "--list", "--cases", "dot", "--peers", "none"]) == 0
    assert capsys.readouterr().out.strip() == (
        "dot[1000000,float64]: loop, list-loop, np.dot, np.dot-1t, numpy, python, numba, cython"
    )
    assert main(["bench", "--cases", "no such case"]) == 2
    with pytest.raises(SystemExit):
        main(["bench", "--backends", "fortran"])


def test_cli_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in BACKENDS:
        assert f"  {name} " in out
    assert "SIMD" in out and "threads" in out


def test_python_dash_m_fastnn():
    source_root = os.path.dirname(os.path.dirname(fastnn.__file__))
    env = {**os.environ, "PYTHONPATH": source_root}
    cmd = [sys.executable, "-m", "fastnn", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    assert "bench" in out.stdout and "info" in out.stdout


def test_a_row_failing_while_timed_is_reported_and_the_others_go_on(monkeypatch):
    timed = runner.Prepared.sample

    def sample(self):
        if self.result.row == "python":
            raise RuntimeError("boom")
        return timed(self)

    monkeypatch.setattr(runner.Prepared, "sample", sample)
    case = Case("propagate", (("n_x", 2), ("m", 10)))
    selection = runner.Selection(backends=("numpy", "python"), peers=())
    result = runner.run_case(
        case, tiny_mode(rounds=3, min_rounds=3, batch_seconds=1e-4, python_budget=math.inf), selection
    )
    numpy_row, python_row = result.rows
    assert numpy_row.status == OK and len(numpy_row.times) == 3
    assert (
        python_row.status == ERROR and python_row.reason == "RuntimeError: boom" and python_row.median is None
    )
    json.loads(report.to_json({"cases": [result.to_dict()]}))


def test_interleave_skips_failed_samples():
    samples: list[list[float]] = [[], []]
    rounds = [2, 2]

    def failing() -> None:
        rounds[1] = 0
        return None

    timing.interleave([lambda: 1.0, failing], rounds, samples)
    assert samples == [[1.0, 1.0], []]


def test_a_row_stops_when_its_time_budget_is_spent(monkeypatch):
    # calibration (faked: the real one depends on the host's load) sizes batches of 4 calls
    # of 25 us, planning 10 rounds; every batch then "takes" 1 s (0.25 s per call): the row
    # stops once 2.5 s are spent, at its third batch
    monkeypatch.setattr(runner, "calibrate", lambda fn, batch_seconds: (4, 2.5e-5))
    monkeypatch.setattr(runner.Prepared, "sample", lambda self: 0.25)
    case = Case("propagate", (("n_x", 2), ("m", 10)))
    mode = tiny_mode(rounds=10, min_rounds=1, row_seconds=2.5, batch_seconds=1e-4)
    result = runner.run_case(case, mode, runner.Selection(backends=("numpy",), peers=()))
    assert result.rows[0].times == [0.25] * 3


def test_a_calibration_sample_counts_against_the_row_budget(monkeypatch):
    # calibration ran one slow call (0.6 s, kept as a sample; 4 rounds planned from it); the
    # next calls "take" 1 s: 0.6 + 1 + 1 = 2.6 s >= 2.5 s ends the row before its 4th round
    monkeypatch.setattr(runner, "calibrate", lambda fn, batch_seconds: (1, 0.6))
    monkeypatch.setattr(runner.Prepared, "sample", lambda self: 1.0)
    case = Case("propagate", (("n_x", 2), ("m", 10)))
    mode = tiny_mode(rounds=10, min_rounds=1, row_seconds=2.5, batch_seconds=1e-4)
    result = runner.run_case(case, mode, runner.Selection(backends=("numpy",), peers=()))
    assert result.rows[0].times == [0.6, 1.0, 1.0]


def test_resized_batch_shrinks_batches_that_ran_far_too_long():
    assert timing.resized_batch(100, per_call=1e-4, batch_seconds=0.005) == 100  # 10 ms: fine
    assert timing.resized_batch(100, per_call=1e-3, batch_seconds=0.005) == 5  # 100 ms: too long
    assert timing.resized_batch(1, per_call=10.0, batch_seconds=0.005) == 1


def _time_by_cost(f, number: int) -> float:
    """A stand-in for ``timing.time_batch``: the calls return their cost, the fake clock."""
    return sum(f() for _ in range(number)) / number


def test_a_batch_of_short_calls_starts_with_an_untimed_call(monkeypatch):
    # after each pause (settle) the first call costs 1.5 (a pool wakes up, caches refill),
    # the next ones 1.0; calibration saw one slow call (5.0, a batch of one): the first
    # sample times a cold call, the next ones see a short call and warm up first
    calls = {"n": 0, "cold": True}

    def fn() -> float:
        calls["n"] += 1
        cost, calls["cold"] = (1.5 if calls["cold"] else 1.0), False
        return cost

    monkeypatch.setattr(runner, "time_batch", _time_by_cost)
    row = RowResult("numba", "fastnn numba", "backend")
    prepared = runner.Prepared(row, fn, number=1, rounds=3, batch_seconds=2.0, per_call=5.0)
    samples = []
    for _ in range(3):
        calls["cold"] = True
        samples.append(prepared.sample())
    assert samples == [1.5, 1.0, 1.0] and calls["n"] == 5


def test_a_call_longer_than_a_batch_gets_no_untimed_call(monkeypatch):
    calls = []

    def fn() -> float:
        calls.append(1)
        return 3.0

    monkeypatch.setattr(runner, "time_batch", _time_by_cost)
    row = RowResult("numpy", "fastnn numpy", "backend")
    prepared = runner.Prepared(row, fn, number=1, rounds=2, batch_seconds=2.0, per_call=3.0)
    assert [prepared.sample(), prepared.sample()] == [3.0, 3.0] and len(calls) == 2


# --- spreads and marks: the table tells the truth on a busy host ----------------------------


def jittered(center: float, rel: float, n: int = 9) -> list[float]:
    """``n`` made-up samples spread evenly over ``center * (1 ± rel)``."""
    return [center * (1 + rel * (2 * i / (n - 1) - 1)) for i in range(n)]


def made_up_step_with_a_noisy_row() -> CaseResult:
    (case,) = select_cases([SMALL_STEP])
    result = case_result(case)
    result.rows = [
        RowResult("numpy", "fastnn numpy", "backend", times=jittered(1e-4, 0.01)),
        RowResult("numba", "fastnn numba", "backend", times=jittered(1e-5, 0.02)),  # steady
        RowResult("torch", "PyTorch eager", "peer", times=jittered(2e-4, 0.6)),  # a busy neighbour
        RowResult("jax-jit", "JAX", "peer", times=[5e-5, 5e-5]),  # too few rounds
    ]
    return derive(result)


def test_a_noisy_row_is_marked_and_a_steady_one_is_not():
    result = made_up_step_with_a_noisy_row()
    numpy_row, numba, torch, jax = result.rows
    assert numba.time_spread["unsteady"] is None and numba.speedup_vs_numpy_spread["unsteady"] is None
    assert math.isclose(numba.speedup_vs_numpy, 10.0)
    assert numba.speedup_vs_numpy_spread["q1"] < 10.0 < numba.speedup_vs_numpy_spread["q3"]
    assert torch.time_spread["unsteady"].startswith("IQR") and torch.time_spread["rel_iqr"] > 0.5
    assert torch.speedup_vs_numpy_spread["unsteady"]
    assert jax.time_spread["unsteady"] == "2 rounds < 3" and jax.speedup_vs_numpy_spread["unsteady"]
    assert numpy_row.speedup_vs_numpy == 1.0 and numpy_row.speedup_vs_numpy_spread is None

    lines = {line.split()[0]: line for line in report.format_table([result]).splitlines() if line.strip()}
    assert MARK not in lines["numba"] and MARK not in lines["numpy"]
    assert "10x ±" in lines["numba"]
    assert lines["torch"].count(MARK) == 2 and lines["jax-jit"].count(MARK) == 2  # time and ratio
    assert any(line.startswith(f"{MARK} marks an unsteady figure") for line in lines.values())
    assert report.LEGEND in report.format_table([result])

    doc = json.loads(report.to_json({"cases": [result.to_dict()]}))
    rows = {r["row"]: r for r in doc["cases"][0]["rows"]}
    assert rows["torch"]["speedup_vs_numpy_spread"]["unsteady"]
    assert rows["numba"]["time_spread"]["unsteady"] is None and rows["numba"]["time_spread"]["rounds"] == 9


def test_a_figure_shows_its_spread_and_mark():
    steady = {"rel_iqr": 0.04, "rounds": 7, "unsteady": None}
    assert report.figure("4.12x", steady) == "4.12x ±2%"
    assert report.figure("4.12x", dict(steady, rel_iqr=0.001)) == "4.12x ±<1%"
    assert report.figure("31 ms", dict(steady, rel_iqr=0.3, unsteady="IQR")) == f"31 ms ±15%{MARK}"
    assert report.figure("2.1 s", {"rel_iqr": 0.0, "rounds": 1, "unsteady": "1 round"}) == f"2.1 s {MARK}"
    assert report.figure("", steady) == "" and report.figure("1x", None) == "1x"


def made_up_lecture(noisy: str) -> CaseResult:
    """The dot case; the ``noisy`` np.dot row has a wide spread of ratios to the loop."""
    (case,) = select_cases(["dot"])
    result = case_result(case)
    loop = jittered(0.3, 0.01)
    result.rows = [
        RowResult(LOOP_ROW, "loop", "baseline", times=loop),
        RowResult("np.dot", "np.dot, all BLAS threads", "baseline", times=jittered(1e-3, 0.01)),
        RowResult(NP_DOT_1T_ROW, "np.dot, one BLAS thread", "baseline", times=jittered(1.5e-3, 0.01)),
    ]
    result.row(noisy).times = [t * f for t, f in zip(result.row(noisy).times, [1, 3, 1, 2, 1, 4, 1, 1, 3])]
    return derive(result)


def test_the_lecture_headline_quotes_the_steadier_np_dot_and_says_which():
    headline = lecture_headline(made_up_lecture(noisy="np.dot"))
    assert headline["row"] == NP_DOT_1T_ROW and headline["other"]["row"] == "np.dot"
    assert math.isclose(headline["speedup_vs_loop"], 200.0)
    text = report.format_headline(headline)
    assert text.startswith("lecture: vectorized is 200x ±") and "one BLAS thread" in text
    assert "the steadier of the two np.dot rows" in text
    other = report.figure(
        report.format_ratio(headline["other"]["speedup_vs_loop"]), headline["other"]["spread"]
    )
    assert other.endswith(MARK) and other in text  # the noisy figure is quoted with its mark

    headline = lecture_headline(made_up_lecture(noisy=NP_DOT_1T_ROW))
    assert headline["row"] == "np.dot" and "np.dot on all BLAS threads" in report.format_headline(headline)


def test_a_marked_headline_keeps_its_mark():
    result = made_up_lecture(noisy="np.dot")
    result.row(NP_DOT_1T_ROW).times = result.row(NP_DOT_1T_ROW).times[:2]  # too few rounds
    derive(result)
    headline = lecture_headline(result)
    assert headline["spread"]["unsteady"]
    assert f"x {MARK}" in report.format_headline(headline) or f"%{MARK}" in report.format_headline(headline)


def test_check_lines_carry_the_mark_of_an_unsteady_ratio():
    noisy = made_up_step_with_a_noisy_row()
    floor = check.Floor(SMALL_STEP, "torch", "numpy", 0.0, "made-up floor")
    (outcome,) = check.evaluate([noisy], floors=(floor,), in_ci=False)
    assert outcome.status == "PASS" and outcome.unsteady and f"x{MARK}" in outcome.line()


# --- tables for the docs from a saved run ----------------------------------------------------


def saved_run(tmp_path) -> str:
    run = {
        "schema": report.SCHEMA,
        "created": "2000-01-01T00:00:00",
        "mode": dataclasses.asdict(runner.QUICK),
        "host": host.describe_host(),
        "cases": [made_up_lecture(noisy="np.dot").to_dict(), made_up_step_with_a_noisy_row().to_dict()],
    }
    run["host"]["cpu"]["model"] = "Made-up CPU"
    run["host"]["versions"]["numpy"] = "2.0"
    path = tmp_path / "run.json"
    path.write_text(report.to_json(run))
    return str(path)


def test_markdown_tables_from_a_saved_run(tmp_path):
    run, results = docs.load_run(saved_run(tmp_path))
    assert [c.case for c in results] == ["dot[1000000,float64]", SMALL_STEP]
    assert results[1].row("numba").speedup_vs_numpy_spread["unsteady"] is None  # derived again

    table = docs.markdown(run, results, "train_step")
    assert f"**`{SMALL_STEP}`**" in table and "| row | time/call | vs numpy |" in table
    assert "| fastnn numba | 10 µs ±" in table and "| 10x ±" in table
    assert "| PyTorch eager |" in table and f"%{MARK} |" in table
    assert report.LEGEND in table and "Made-up CPU" in table and "numpy 2.0" in table

    summary = docs.markdown(run, results, "summary")
    assert summary.startswith("The lecture's experiment: vectorized is 200x ±")
    assert "| case | numpy backend | numba vs numpy | fastest peer vs numpy |" in summary
    assert f"| `{SMALL_STEP}` | 100 µs ±" in summary and "| jax-jit 2x " in summary
    assert "| vs loop |" in docs.markdown(run, results, "dot")
    assert docs.markdown(run, results, "all").count("**`") == 2
    with pytest.raises(ValueError, match="no case of the run matches 'fits'"):
        docs.markdown(run, results, "fits")


def test_update_doc_replaces_only_the_marked_blocks(tmp_path):
    run_path = saved_run(tmp_path)
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Title\n\nkept\n<!-- fastnn-bench:begin summary -->\nold table\n<!-- fastnn-bench:end summary -->\n"
        "between\n<!-- fastnn-bench:begin train_step -->\n<!-- fastnn-bench:end train_step -->\nend\n"
    )
    run, results = docs.load_run(run_path)
    assert docs.update_doc(doc, run, results) == ["summary", "train_step"]
    text = doc.read_text()
    assert "old table" not in text and text.startswith("# Title\n\nkept\n") and text.endswith("\nend\n")
    assert (
        docs.markdown(run, results, "summary") in text and docs.markdown(run, results, "train_step") in text
    )
    assert docs.update_doc(doc, run, results) and doc.read_text() == text  # idempotent
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="no <!-- fastnn-bench:begin NAME -->"):
        docs.update_doc(tmp_path / "plain.md", run, results)


def test_cli_report_markdown_and_update_doc(tmp_path, capsys):
    run_path = saved_run(tmp_path)
    assert main(["bench", "--report", run_path]) == 0
    out = capsys.readouterr().out
    assert "fastnn bench --quick" in out and SMALL_STEP in out and "lecture: vectorized is 200x" in out
    assert main(["bench", "--report", run_path, "--markdown", "summary"]) == 0
    assert "| case | numpy backend |" in capsys.readouterr().out
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- fastnn-bench:begin dot -->\n<!-- fastnn-bench:end dot -->\n")
    assert main(["bench", "--report", run_path, "--update-doc", str(doc)]) == 0
    assert "| loop |" in doc.read_text()
    assert main(["bench", "--report", run_path, "--markdown", "no such case"]) == 2
    assert main(["bench", "--markdown"]) == 2  # needs --report


def test_cli_report_plot_draws_the_saved_runs_chart(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "chart.svg"
    assert main(["bench", "--report", saved_run(tmp_path), "--plot", str(chart)]) == 0
    assert f"chart: {chart}" in capsys.readouterr().out
    assert chart.read_text().lstrip().startswith("<?xml") and "numba" in chart.read_text()


# --- the mixed schedule, the numba warm-up, the first calls ------------------------------------


def test_the_mixed_schedule_runs_numpy_work_before_each_batch_and_never_waits(monkeypatch):
    events = []
    monkeypatch.setattr(runner, "settle", lambda: events.append("settle") or 0.0)
    monkeypatch.setattr(runner, "numpy_work", lambda dtype: lambda: events.append(f"np.dot {dtype}"))

    def sample(self) -> float:  # what Prepared.sample does around the timed batch
        if self.before_batch is not None:
            self.before_batch()
        return 1e-6

    monkeypatch.setattr(runner.Prepared, "sample", sample)
    monkeypatch.setattr(runner, "calibrate", lambda fn, batch_seconds: (4, 1e-6))  # not one long call
    case = Case("propagate", (("n_x", 2), ("m", 10)), "float32")
    selection = runner.Selection(backends=("numpy",), peers=())
    mixed = tiny_mode(rounds=3, min_rounds=3, batch_seconds=1e-4, schedule="mixed")
    result = runner.run_case(case, mixed, selection)
    assert events == ["np.dot float32"] * 3 and len(result.rows[0].times) == 3
    events.clear()
    result = runner.run_case(case, dataclasses.replace(mixed, schedule="quiet"), selection)
    assert events == ["settle"] * 3 and result.rows[0].status == OK


def test_numpy_work_wakes_the_blas_threads():
    work = runner.numpy_work("float64")
    assert work().shape == (runner.NUMPY_WORK_N, runner.NUMPY_WORK_N)
    assert runner.NUMPY_WORK_N**3 >= 64**3  # OpenBLAS runs smaller products on one thread


def test_prepared_sample_runs_the_numpy_work_between_warm_call_and_batch(monkeypatch):
    events = []
    monkeypatch.setattr(runner, "time_batch", lambda fn, number: events.append("batch") or 1e-6)
    row = RowResult("numba", "fastnn numba", "backend")
    prepared = runner.Prepared(
        row,
        lambda: events.append("call"),
        number=10,
        batch_seconds=1e-3,
        per_call=1e-6,
        before_batch=lambda: events.append("numpy"),
    )
    prepared.sample()
    assert events == ["call", "numpy", "batch"]


def test_cli_warms_up_numba_first_and_records_it(monkeypatch, tmp_path, capsys):
    calls = []
    summary = {
        "groups": 8,
        "specializations": 40,
        "compiled": 0,
        "dtypes": ("float64",),
        "seconds": 1.5,
        "seconds_per_group": {},
        "processes": 2,
        "cache_dir": "/made/up",
    }
    monkeypatch.setattr(startup, "warm_numba", lambda dtypes: calls.append(tuple(dtypes)) or summary)
    monkeypatch.setattr(host, "measure_peaks", lambda repeat: {})
    path = tmp_path / "run.json"
    args = [
        "bench",
        "--cases",
        SMALL_STEP,
        "--repeat",
        "1",
        "--no-startup",
        "--peers",
        "none",
        "--backends",
        "numpy,numba",
        "--json",
        str(path),
    ]
    assert main(args) == 0
    assert calls == [("float64",)]
    assert "warm-up  numba: 8 kernel groups, float64: 40 compiled functions" in capsys.readouterr().out
    assert json.loads(path.read_text())["warmup"]["seconds"] == 1.5
    assert main([*args, "--no-warmup"]) == 0 and len(calls) == 1
    assert json.loads(path.read_text())["warmup"] == {"skipped": "--no-warmup"}
    assert main([*args[:-4], "--backends", "numpy", "--json", str(path)]) == 0 and len(calls) == 1
    assert json.loads(path.read_text())["warmup"] is None


def test_numba_first_calls_are_measured_one_per_interpreter(monkeypatch):
    runs = []

    def fake_run(snippet, args=(), env_extra=None, timeout=600.0):
        runs.append((tuple(args), (env_extra or {}).get("NUMBA_CACHE_DIR")))
        return {"load": 0.1, "first_call": 2.0 if len(runs) % 2 else 0.5, "second_call": 1e-5}

    monkeypatch.setattr(startup, "_run", fake_run)
    cold = startup.measure_numba_first_calls(cold=True)
    assert set(cold) == {"train_step", "propagate"}
    assert cold["train_step"]["cold"]["first_call"] == 2.0 and cold["train_step"]["warm"]["first_call"] == 0.5
    assert [a for a, _ in runs] == [("train_step",)] * 2 + [("propagate",)] * 2
    dirs = [d for _, d in runs]
    assert dirs[0] == dirs[1] != dirs[2] == dirs[3] and None not in dirs  # a fresh cache per call
    runs.clear()
    warm = startup.measure_numba_first_calls(cold=False)
    assert "cold" not in warm["propagate"] and all(d is None for _, d in runs)
    text = report.format_startup({"numba": cold})
    assert "mlp.train_step (2, 4, 400) float64" in text and "logreg.propagate (2, 400) float64" in text
    assert "cold cache 2 s, warm cache 500 ms" in text


# --- compiling peers: compiled in the untimed warm-up, same numbers as fastnn ----------------------


def test_a_jit_row_compiles_in_the_untimed_warm_up_even_after_a_probe(monkeypatch):
    """A fit's row is probed on a smaller case first; a JIT row compiles again at the case's
    own shapes, and that call must not be the first timed one."""
    compiled_for = set()
    timed_before_compiling = []

    def make(case, data):
        def fit():
            compiled_for.add(case)

        return fit

    real_calibrate = runner.calibrate

    def calibrate(fn, batch_seconds):
        timed_before_compiling.append(fit_case not in compiled_for)
        return real_calibrate(fn, batch_seconds)

    monkeypatch.setattr(runner, "calibrate", calibrate)
    fit_case = Case("nn_model", (("n_x", 2), ("n_h", 4), ("m", 400)), "float64", 200, "planar")
    row = Row("jitted", "a JIT peer", "peer", make, jit=True)
    prepared = runner.prepare_row(fit_case, row, {}, tiny_mode())
    assert prepared.fn is not None and prepared.result.estimate is not None  # probed
    assert len(compiled_for) == 2 and timed_before_compiling == [False]


def _plain(x):
    """A peer's tensor or array, a dict or list of them, or a float, as NumPy."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return np.asarray(x.detach() if hasattr(x, "detach") else x, dtype=np.float64)


AGREEMENT_CASES = [
    Case("train_step", (("n_x", 3), ("n_h", 4), ("m", 50)), "float64"),
    Case("train_step", (("n_x", 3), ("n_h", 4), ("m", 50)), "float32"),
    Case("propagate", (("n_x", 5), ("m", 40)), "float64"),
    Case("nn_model", (("n_x", 2), ("n_h", 4), ("m", 400)), "float64", 30, "planar"),
    Case("optimize", (("n_x", 20), ("m", 60)), "float64", 250),
]


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("case", AGREEMENT_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "peer", ["jax-jit", "torch", "torch-autograd", pytest.param("torch-compile", marks=pytest.mark.slow)]
)
def test_peer_rows_compute_what_the_numpy_backend_computes(peer, case):
    pytest.importorskip("jax" if peer.startswith("jax") else "torch")
    data = case.build()
    rows = {r.name: r for r in case.rows()}
    calls = 3 if case.kind == "train_step" else 1  # three steps: the parameters move alike
    expected, got = rows["numpy"].make(case, data), rows[peer].make(case, data)
    want, have = [expected() for _ in range(calls)], [got() for _ in range(calls)]
    if case.kind == "propagate":  # (grads, cost)
        want, have = (
            [[w[0]["dw"], w[0]["db"], w[1]] for w in want],
            [[h[0]["dw"], h[0]["db"], h[1]] for h in have],
        )
    elif case.kind == "nn_model":  # parameters
        want, have = (
            [[w[k] for k in ("W1", "b1", "W2", "b2")] for w in want],
            [[h[k] for k in ("W1", "b1", "W2", "b2")] for h in have],
        )
    elif case.kind == "optimize":  # ({"w", "b"}, costs); fastnn's has the grads in the middle
        want, have = (
            [[w[0]["w"], w[0]["b"], w[2]] for w in want],
            [[h[0]["w"], h[0]["b"], h[1]] for h in have],
        )
    rtol = 1e-5 if case.dtype == "float32" else 1e-10
    for w, h in zip(_plain(want), _plain(have), strict=True):
        for a, b in zip(w, h, strict=True) if isinstance(w, list) else [(w, h)]:
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * 1e-2)


def test_missing_peers_are_unavailable_with_the_import_error(monkeypatch):
    from fastnn.bench import peers

    real_import = peers.importlib.import_module

    def no_jax_no_torch(name, *args):
        if name.split(".")[0] in ("jax", "torch"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args)

    monkeypatch.setattr(peers.importlib, "import_module", no_jax_no_torch)
    case = AGREEMENT_CASES[0]
    for row in case.rows():
        if row.name in ("jax-jit", "torch-compile"):
            prepared = runner.prepare_row(case, row, case.build(), tiny_mode())
            assert prepared.result.status == UNAVAILABLE
            assert "is not installed (No module named" in prepared.result.reason
    info = peers.describe(("jax", "torch"))
    assert not info["jax"]["available"] and "pip install 'jax[cpu]'" in info["jax"]["reason"]


def test_dask_case_tables():
    from fastnn.bench.distributed import format_dask

    result = {
        "backend": "numba", "iterations": 20,
        "overhead": [{"samples": 400, "features": 2, "chunks": 2, "in_memory": 1e-5, "dask": 0.03, "overhead": 0.03}],
        "weak_scaling": [{"workers": 1, "samples": 100_000, "seconds": 0.05},
                         {"workers": 2, "samples": 200_000, "seconds": 0.0625}],
    }
    text = format_dask(result)
    assert "30.0 ms" in text and "efficiency 0.80" in text
    md = format_dask(result, markdown=True)
    assert "| 2 | 200,000 | 62.5 ms | 0.80 |" in md
    assert format_dask({"unavailable": "no dask"}).startswith("dask: unavailable")
