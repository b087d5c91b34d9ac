"""Presenting a run: the host header, the table, the headline, the JSON document and the chart."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastnn.bench.cases import NP_DOT_1T_ROW
from fastnn.bench.check import WHY_LOOSE, CheckOutcome
from fastnn.bench.results import MARK, STEADY_IQR, STEADY_ROUNDS, CaseResult, RowResult
from fastnn.bench.runner import format_seconds

__all__ = [
    "LEGEND",
    "SCHEMA",
    "figure",
    "format_check",
    "format_header",
    "format_headline",
    "format_host",
    "format_ratio",
    "format_startup",
    "format_table",
    "format_warmup",
    "plot_speedups",
    "to_json",
    "write_json",
]

SCHEMA = "fastnn-bench/2"
#: The table lists the rows whose first (warm-up) call took at least this many seconds.
SLOW_FIRST_CALL = 1.0
#: What the ± and the mark mean, under every table that shows them.
LEGEND = (
    f"±: half the interquartile range of the samples (times) or of the per-round ratios "
    f"(speed-ups), in % of the median; {MARK} unsteady: an interquartile range over "
    f"{100 * STEADY_IQR:.0f}% of the median, or fewer than {STEADY_ROUNDS} rounds: a rough figure"
)


def format_count(x: float) -> str:
    """``26400.0`` -> ``26.4 k``: a flop or byte count with an SI prefix."""
    if not (x > 0 and math.isfinite(x)):
        return str(x)
    exponent = min(int(math.log10(x) // 3), 4)
    return f"{x / 1000**exponent:.3g}{('', ' k', ' M', ' G', ' T')[exponent]}"


def format_ratio(x: float | None) -> str:
    """``4.123`` -> ``4.12x``."""
    return "" if x is None else f"{x:.3g}x"


def _num(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def _pct(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.2g}%" if x < 10 else f"{x:.0f}%"


def figure(text: str, spread: dict | None) -> str:
    """``text`` with its spread and mark: ``"4.12x ±3%"``, ``"31 ms ±12%?"``, ``"2.1 s ?"``."""
    if not text or spread is None:
        return text
    half = 50.0 * spread["rel_iqr"]
    if spread["rounds"] > 1:
        text += " ±<1%" if half < 1 else f" ±{half:.0f}%"
    else:
        text += " "
    return text + (MARK if spread["unsteady"] else "")


# --- header -------------------------------------------------------------------------------


def _threads(n: object) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _details(details: dict) -> str:
    parts = []
    for key, value in details.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = "; ".join(" ".join(str(v) for v in item.values() if v is not None) for item in value)
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def _startup_lines(startup: dict) -> list[str]:
    lines = []
    imp = startup.get("import", {})
    if "total" in imp:
        lines.append(
            f"import fastnn {format_seconds(imp['fastnn'])} after numpy's {format_seconds(imp['numpy'])}"
            f" (fresh interpreter, median of {imp['repeat']})"
        )
    elif imp:
        lines.append(f"import fastnn: {next(iter(imp.values()))}")
    numba = startup.get("numba", {})
    for figures in numba.values():
        if not isinstance(figures, dict):
            continue
        warm, cold = figures["warm"], figures.get("cold")
        text = f"numba {figures['call']}, first call in a fresh interpreter: "
        if cold:
            text += f"cold cache {format_seconds(cold['first_call'])}, "
        cache = "warm cache" if cold else f"warm cache ({figures['cache']})"
        lines.append(
            f"{text}{cache} {format_seconds(warm['first_call'])}; next call "
            f"{format_seconds(warm['second_call'])} (loading the backend: {format_seconds(warm['load'])})"
        )
    if numba and not any(isinstance(v, dict) for v in numba.values()):
        key, value = next(iter(numba.items()))
        lines.append(f"numba backend first call: {key}: {value}")
    return lines


def format_host(host: dict, peers: dict | None = None) -> str:
    """The host: CPU, SIMD, cores, versions, BLAS and its threads, load, fastnn's backends, peers."""
    cpu, versions = host["cpu"], host["versions"]
    lines = [
        f"cpu      {cpu['model']} ({cpu['machine']}), SIMD {cpu['simd']}; {cpu['logical_cores']} logical / "
        f"{cpu['physical_cores'] or '?'} physical cores, {cpu['usable_cores']} usable",
        f"         {' '.join(cpu['simd_extensions'])}" if cpu["simd_extensions"] else None,
        f"platform {host['platform']}",
        "versions " + "  ".join(f"{k} {v}" for k, v in versions.items() if v),
    ]
    for lib in host["blas"]:
        what = [lib["architecture"], lib["threading_layer"], Path(lib.get("filepath") or "").name]
        lines.append(
            f"{lib['user_api']:8} {lib['internal_api']} {lib['version'] or ''}".rstrip()
            + f" ({', '.join(w for w in what if w)}), {_threads(lib['num_threads'])}"
        )
    if host.get("load_average"):
        load = " ".join(f"{x:g}" for x in host["load_average"])
        lines.append(f"load     {load} (1/5/15-min load averages on {cpu['usable_cores']} usable cores)")
    fastnn = host["fastnn"]
    lines.append(f"fastnn   {fastnn['version']}, {_threads(fastnn['threads'])} (fastnn.get_num_threads())")
    for b in fastnn["backends"]:
        if b["available"]:
            state = f"{b['version'] or ''}  {_details(b['details'])}"
        else:
            state = f"unavailable: {b['reason']}"
        lines.append(f"  {b['name']:7} {state}")
    if peers:
        parts = []
        for name, p in peers.items():
            if p["available"]:
                threads = f" ({_threads(p['threads'])})" if "threads" in p else ""
                parts.append(f"{name} {p['version']}{threads}")
            else:
                parts.append(f"{name} unavailable: {p['reason']}")
        lines.append("peers    " + "; ".join(parts))
    return "\n".join(line for line in lines if line is not None)


SCHEDULES = {
    "quiet": "each batch after the threads of the rows before have gone to sleep",
    "mixed": "each batch right after a multi-threaded np.dot, no waiting: as users meet it",
}


def format_header(run: dict) -> str:
    """The run's mode and schedule, the host, thread limit, load warning and measured peaks."""
    mode = run["mode"]
    schedule = mode.get("schedule", "quiet")
    lines = [
        f"fastnn bench --{mode['name']}{' --mixed' if schedule == 'mixed' else ''}  {run['created']}  "
        f"(median over up to {mode['rounds']} interleaved rounds per row, "
        f"batches >= {format_seconds(mode['batch_seconds'])})",
        f"schedule {schedule}: {SCHEDULES.get(schedule, schedule)}",
        format_host(run["host"], run.get("peers")),
    ]
    limited = run.get("thread_limit")
    if limited:
        lines.append(
            f"threads  limited to {limited['threads']} for this run (--threads): fastnn's kernels, "
            "the BLAS and OpenMP runtimes (threadpoolctl), PyTorch (not JAX's XLA pool)"
        )
    load, cores = run["host"].get("load_average"), run["host"]["cpu"]["usable_cores"]
    if load and cores and load[0] >= cores / 2 and not limited:
        lines.append(
            f"warning  the host is busy (1-min load {load[0]:g} on {cores} cores): a multi-threaded call "
            "waits for its slowest thread, which other processes can deschedule; --threads 1 is steadier"
        )
    peaks = run.get("peaks")
    if peaks:
        n, blas = peaks["gemm_n"], _threads(peaks.get("blas_threads", "?"))
        lines.append(
            f"peaks    np.dot {n}x{n}: {peaks['flops_float64'] / 1e9:.3g} GFLOP/s float64, "
            f"{peaks['flops_float32'] / 1e9:.3g} GFLOP/s float32 ({blas}); "
            f"np.copyto {peaks['copy_mib']} MiB: {peaks['bandwidth'] / 1e9:.3g} GB/s (read+write, 1 thread); "
            f"best of {peaks['repeat']}"
        )
    return "\n".join(line for line in lines if line is not None)


def format_warmup(summary: dict | None) -> str:
    """One line: what ``fastnn warmup`` compiled before timing, and how long it took."""
    if summary is None:
        return "warm-up  not needed (the numba backend is not selected)"
    if "skipped" in summary or "unavailable" in summary or "error" in summary:
        key = next(k for k in ("skipped", "unavailable", "error") if k in summary)
        return f"warm-up  numba: {key}: {summary[key]}"
    return (
        f"warm-up  numba: {summary['groups']} kernel groups, {'/'.join(summary['dtypes'])}: "
        f"{summary['specializations']} compiled functions ({summary['compiled']} compiled now, the others "
        f"from the cache) in {summary['seconds']:.1f} s on {summary['processes']} processes; "
        f"cache {summary['cache_dir']}"
    )


def format_startup(startup: dict) -> str:
    """``import fastnn`` and the numba backend's first-call figures."""
    if "skipped" in startup:
        return f"start-up: skipped ({startup['skipped']})"
    return "\n".join(
        ("start-up " if i == 0 else "         ") + line for i, line in enumerate(_startup_lines(startup))
    )


# --- table --------------------------------------------------------------------------------

_COLUMNS = (
    ("row", 15, "<"),
    ("time/call", 15, ">"),
    ("vs loop", 13, ">"),
    ("vs numpy", 13, ">"),
    ("GFLOP/s", 8, ">"),
    ("%peak", 6, ">"),
    ("GB/s", 7, ">"),
    ("%bw", 6, ">"),
    ("samples", 11, ">"),
)


def _line(cells: Sequence[str], columns: Sequence[tuple]) -> str:
    return "  " + " ".join(f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, columns)).rstrip()


def _row_cells(r: RowResult) -> dict[str, str]:
    return {
        "row": r.row,
        "time/call": figure(format_seconds(r.median), r.time_spread),
        "vs loop": figure(format_ratio(r.speedup_vs_loop), r.speedup_vs_loop_spread),
        "vs numpy": figure(format_ratio(r.speedup_vs_numpy), r.speedup_vs_numpy_spread),
        "GFLOP/s": _num(r.gflops),
        "%peak": _pct(r.pct_peak_flops),
        "GB/s": _num(r.gbps),
        "%bw": _pct(r.pct_peak_bandwidth),
        "samples": f"{len(r.times)}x{r.batch}" if r.times else "",
    }


def _case_title(c: CaseResult) -> str:
    work = f"{format_count(c.flops)}FLOP"
    if c.bytes is not None:
        work += f", {format_count(c.bytes)}B"
    took = f"; the case took {format_seconds(c.wall_seconds)}" if c.wall_seconds else ""
    return f"{c.case}  ({work} per call{took})"


def _marked(results: Sequence[CaseResult]) -> bool:
    spreads = (
        s
        for c in results
        for r in c.rows
        for s in (r.time_spread, r.speedup_vs_loop_spread, r.speedup_vs_numpy_spread)
    )
    return any(s is not None and s["unsteady"] for s in spreads)


def format_table(results: Sequence[CaseResult]) -> str:
    """Per case and row: median time per call and speed-ups with their spreads and marks,
    rates and % of the host's peaks; the legend and notes under it."""
    has_loop = any(c.row("loop") is not None for c in results)
    columns = [col for col in _COLUMNS if has_loop or col[0] != "vs loop"]
    out = [_line([name for name, _, _ in columns], columns)]
    labels: dict[str, str] = {}
    for c in results:
        out.append(_case_title(c))
        for r in c.rows:
            labels.setdefault(r.row, r.label)
            if r.median is None:
                out.append(f"  {r.row:15} {r.cell_note()}")
            else:
                cells = _row_cells(r)
                out.append(_line([cells[name] for name, _, _ in columns], columns))
    out.append("")
    if _marked(results):
        out.append(f"{MARK} marks an unsteady figure (see ± below); do not quote it without its mark")
    out.append("rows: " + "; ".join(f"{name} = {label}" for name, label in labels.items()))
    slow_starts = [
        f"{r.row} on {c.case} {format_seconds(r.first_call)}"
        for c in results
        for r in c.rows
        if r.first_call is not None and r.first_call >= SLOW_FIRST_CALL and r.row != "python"
    ]
    if slow_starts:
        out.append(
            f"first calls over {format_seconds(SLOW_FIRST_CALL)} (warm-ups, not timed: numba loading its "
            f"cache or compiling, JIT peers compiling, lazy imports): {'; '.join(slow_starts)}"
        )
    out.append(
        "time/call: median over rounds; vs loop / vs numpy: median(reference) / median(row), same run; "
        "GFLOP/s counts matrix-product flops; GB/s counts the data a call must touch once; "
        "%peak / %bw: against the peaks above; samples: rounds x calls per batch."
    )
    out.append(LEGEND + ".")
    return "\n".join(out)


def format_headline(headline: dict | None) -> str:
    """The lecture's experiment in one sentence, with its spread and mark (see
    :func:`fastnn.bench.results.lecture_headline`)."""
    if headline is None:
        return "lecture: no np.dot row against the loop in this run"

    def quoted(h: dict) -> str:
        return figure(format_ratio(h["speedup_vs_loop"]), h["spread"])

    text = f"lecture: vectorized is {quoted(headline)} faster than the loop (np.dot on {_way(headline)}"
    other = headline.get("other")
    if not other:
        return text + ")"
    return f"{text}, the steadier of the two np.dot rows; on {_way(other)}: {quoted(other)})"


def _way(h: dict) -> str:
    return "one BLAS thread" if h["row"] == NP_DOT_1T_ROW else "all BLAS threads"


def format_check(outcomes: Sequence[CheckOutcome]) -> str:
    lines = ["check (ratio floors, medians of the same run):"]
    lines += [f"  {o.line()}" for o in outcomes]
    lines.append(WHY_LOOSE)
    return "\n".join(lines)


# --- JSON ---------------------------------------------------------------------------------


def to_json(run: dict) -> str:
    """The run document as JSON (objects that JSON lacks become strings)."""
    return json.dumps(run, indent=2, default=str, allow_nan=False)


def write_json(run: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(run) + "\n")
    return path


# --- chart --------------------------------------------------------------------------------


def _speedup_panels(results: Sequence[CaseResult]) -> list[tuple[str, list[CaseResult], str]]:
    dot = [c for c in results if c.kind == "dot"]
    rest = [c for c in results if c.kind != "dot"]
    panels = []
    if dot:
        panels.append(("speed-up vs the lecture's loop", dot, "speedup_vs_loop"))
    if rest:
        panels.append(("speed-up vs the numpy backend", rest, "speedup_vs_numpy"))
    return panels


def plot_speedups(results: Sequence[CaseResult], path: str | Path, title: str = "") -> Path:
    """A log-scale bar chart of the speed-ups, PNG or SVG by ``path``'s extension.

    Raises ``ImportError`` when matplotlib is not installed.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    path = Path(path)
    panels = _speedup_panels(results)
    widths = [max(2, len(cases)) for _, cases, _ in panels] or [1]
    fig = Figure(figsize=(3 + 0.9 * sum(widths), 6), layout="constrained")
    axes = fig.subplots(1, max(1, len(panels)), width_ratios=widths, squeeze=False)[0]
    row_names: list[str] = []
    for _, cases, _ in panels:
        for c in cases:
            row_names += [r.row for r in c.rows if r.row not in row_names]
    palette = colormaps["tab20"].colors  # one colour per row name, the same in every panel
    colors: dict[str, Any] = {name: palette[i % len(palette)] for i, name in enumerate(row_names)}
    for ax, (label, cases, attr) in zip(axes, panels, strict=False):
        names = [name for name in row_names if any(getattr(c.row(name), attr, None) for c in cases)]
        width = 0.8 / max(1, len(names))
        for j, name in enumerate(names):
            xs, ys = [], []
            for i, c in enumerate(cases):
                r = c.row(name)
                value = getattr(r, attr, None) if r is not None else None
                if value:
                    xs.append(i - 0.4 + (j + 0.5) * width)
                    ys.append(value)
            ax.bar(xs, ys, width=width, color=colors[name], label=name)
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(cases)), [c.case for c in cases], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", which="both", alpha=0.3)
    handles = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(name, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8)
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
