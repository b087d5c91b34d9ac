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
from fastnn.bench import check, host, report, runner, startup, timing
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
from fastnn.bench.results import ERROR, OK, SKIPPED, UNAVAILABLE, CaseResult, RowResult, case_result, derive

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
    assert {"torch", "torch-autograd", "sklearn-mlp"} <= fits["nn_model"]
    assert {"torch", "torch-autograd", "sklearn-lbfgs"} <= fits["optimize"]


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
    result = runner.run_case(case, tiny_mode(rounds=3, min_rounds=3, batch_seconds=1e-4, python_budget=math.inf), selection)
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
        return [tuple(calls[r * 4:(r + 1) * 4]) for r in range(20)]

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
    monkeypatch.setattr(timing._threads, "_TASKS", str(tmp_path))
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
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(
        perf_counter=lambda: clock[0],
        sleep=lambda s: sleep(s) or (clock[0] >= 0.1 and state("S"))))
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
    path = tmp_path / "out" / "bench.json"
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
    result = runner.run_case(case, tiny_mode(rounds=3, min_rounds=3, batch_seconds=1e-4, python_budget=math.inf), selection)
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
