"""Tables for the docs, generated from a saved run (the JSON ``fastnn bench`` writes)::

    fastnn bench --report RUN.json                        # the run's text table again
    fastnn bench --report RUN.json --markdown [NAME]      # markdown tables of set NAME
    fastnn bench --report RUN.json --update-doc FILE.md   # refresh FILE's marked blocks

``--update-doc`` replaces the text between ``<!-- fastnn-bench:begin NAME -->`` and
``<!-- fastnn-bench:end NAME -->`` with the tables of NAME: one of :data:`TABLE_SETS`, or
any other text, which selects the cases whose name contains it.  Every block ends with
the legend of the spreads and marks and a line naming the run's host and versions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from fastnn.bench.report import LEGEND, figure, format_count, format_headline, format_ratio
from fastnn.bench.results import CaseResult, RowResult, derive, lecture_headline
from fastnn.bench.runner import format_seconds

__all__ = ["TABLE_SETS", "load_run", "markdown", "update_doc"]

#: Named table sets: ``summary`` (the README's one table), or the cases of these kinds.
TABLE_SETS = {
    "summary": None,
    "dot": ("dot",),
    "propagate": ("propagate",),
    "train_step": ("train_step",),
    "fits": ("nn_model", "optimize"),
    "all": ("dot", "propagate", "train_step", "nn_model", "optimize"),
}
_BLOCK = re.compile(r"(<!-- fastnn-bench:begin (\S+) -->\n).*?(<!-- fastnn-bench:end \2 -->)", re.DOTALL)


def load_run(path: str | Path) -> tuple[dict, list[CaseResult]]:
    """A saved run and its cases, their figures derived again from the samples."""
    run = json.loads(Path(path).read_text())
    return run, [derive(CaseResult.from_dict(c), run.get("peaks")) for c in run.get("cases", ())]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> list[str]:
    aligns = [":---" if i < right_from else "---:" for i in range(len(header))]
    return [f"| {' | '.join(cells)} |" for cells in (header, aligns, *rows)]


def _time(r: RowResult) -> str:
    if r.median is None:
        return r.status
    return figure(format_seconds(r.median), r.time_spread)


def _speedup(r: RowResult | None, attr: str = "speedup_vs_numpy") -> str:
    if r is None or r.median is None:
        return "—" if r is None else r.status
    return figure(format_ratio(getattr(r, attr)), getattr(r, f"{attr}_spread"))


def _case_table(c: CaseResult) -> list[str]:
    work = f"{format_count(c.flops)}FLOP" + (f", {format_count(c.bytes)}B" if c.bytes is not None else "")
    vs_loop = c.row("loop") is not None
    header = ["row", "time/call", *(["vs loop"] if vs_loop else []), "vs numpy"]
    rows = [
        [r.label, _time(r), *([_speedup(r, "speedup_vs_loop")] if vs_loop else []), _speedup(r)]
        for r in c.rows
    ]
    return [f"**`{c.case}`** ({work} per call)", "", *_table(header, rows)]


def _summary(results: Sequence[CaseResult]) -> list[str]:
    """The lecture's headline, then one line per other case: the numpy backend's time and
    every other fastnn backend's speed-up against it, and the fastest peer's."""
    lines = []
    dot = next((c for c in results if c.kind == "dot"), None)
    if dot is not None:
        lines += [
            format_headline(lecture_headline(dot)).replace("lecture: ", "The lecture's experiment: ") + ".",
            "",
        ]
    backends = [r.row for c in results for r in c.rows if r.kind == "backend" and r.row != "numpy"]
    backends = list(dict.fromkeys(backends))
    rows = []
    for c in results:
        if c.kind == "dot":
            continue
        numpy_row = c.row("numpy")
        peers = [r for r in c.rows if r.kind == "peer" and r.median is not None]
        fastest = min(peers, key=lambda r: r.median, default=None)
        peer = f"{fastest.row} {_speedup(fastest)}" if fastest is not None else "—"
        rows.append(
            [
                f"`{c.case}`",
                _time(numpy_row) if numpy_row else "—",
                *(_speedup(c.row(b)) for b in backends),
                peer,
            ]
        )
    if rows:
        header = ["case", "numpy backend", *(f"{b} vs numpy" for b in backends), "fastest peer vs numpy"]
        lines += _table(header, rows)
    return lines


def _host_line(run: dict) -> str:
    host, mode = run.get("host", {}), run.get("mode", {})
    cpu = host.get("cpu", {})
    versions = ", ".join(f"{k} {v}" for k, v in host.get("versions", {}).items() if v)
    blas = "; ".join(
        f"{b['internal_api']} {b.get('version') or ''} {b['num_threads']} threads".replace("  ", " ")
        for b in host.get("blas", ())
        if b.get("user_api") == "blas"
    )
    limit = run.get("thread_limit")
    threads = f", --threads {limit['threads']}" if limit else ""
    # the CPU generation as LLVM names it (numba's details), when numba ran: "AMD EPYC" alone
    # does not tell one generation from the next
    arch = next((b["details"]["cpu"] for b in host.get("fastnn", {}).get("backends", ())
                 if isinstance(b.get("details"), dict) and b["details"].get("cpu")), None)
    model = f"{cpu.get('model', '?')}{f' ({arch})' if arch else ''}"
    return (
        f"*`fastnn bench --{mode.get('name', '?')}`, schedule {mode.get('schedule', 'quiet')}{threads}: "
        f"{model}, {cpu.get('usable_cores', '?')} usable cores, SIMD {cpu.get('simd', '?')}; "
        f"{versions}{f'; BLAS {blas}' if blas else ''}.*"
    )


def markdown(run: dict, results: Sequence[CaseResult], name: str = "all") -> str:
    """The markdown tables of ``name`` (a :data:`TABLE_SETS` key, else a case-name
    substring), with the legend and the host line.  Raises ``ValueError`` when ``name``
    selects no case of the run."""
    if name == "dask":
        from fastnn.bench.distributed import format_dask

        if "dask" not in run:
            raise ValueError("the run has no dask case (fastnn bench --cases dask)")
        return "\n".join([format_dask(run["dask"], markdown=True), "", _host_line(run)])
    if name == "summary":
        chosen = list(results)
    elif name in TABLE_SETS:
        chosen = [c for c in results if c.kind in TABLE_SETS[name]]
    else:
        chosen = [c for c in results if name in c.case]
    if not chosen:
        raise ValueError(f"no case of the run matches {name!r} (table sets: {', '.join(TABLE_SETS)})")
    if name == "summary":
        lines = _summary(chosen)
    else:
        lines = []
        for c in chosen:
            lines += [*_case_table(c), ""]
        lines.pop()
    return "\n".join(
        [*lines, "", LEGEND + ". Speed-ups: median(reference) / median(row), same run.", "", _host_line(run)]
    )


def update_doc(path: str | Path, run: dict, results: Sequence[CaseResult]) -> list[str]:
    """Replace every ``fastnn-bench`` block of the markdown file ``path`` with its tables;
    the names of the blocks, in order.  Raises ``ValueError`` when there is none."""
    path = Path(path)
    text = path.read_text()
    names = [m.group(2) for m in _BLOCK.finditer(text)]
    if not names:
        raise ValueError(
            f"{path} has no <!-- fastnn-bench:begin NAME --> ... <!-- fastnn-bench:end NAME --> block"
        )
    tables = {name: markdown(run, results, name) for name in names}
    path.write_text(_BLOCK.sub(lambda m: f"{m.group(1)}{tables[m.group(2)]}\n{m.group(3)}", text))
    return names
