"""The ``fastnn`` command line: ``fastnn bench``, ``fastnn warmup`` and ``fastnn info``.

Also ``python -m fastnn ...``.  Run ``fastnn bench --help`` for the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

__all__ = ["main"]

DEFAULT_JSON_DIR = Path("bench-results")


def _names(text: str, allowed: Sequence[str], what: str, allow_none: bool = False) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if allow_none and names == ("none",):
        return ()
    if names == ("all",):
        return tuple(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        extra = ", 'all'" + (", 'none'" if allow_none else "")
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(map(repr, allowed))}{extra}"
        )
    return names


def _parser() -> argparse.ArgumentParser:
    from fastnn.bench.cases import BACKENDS
    from fastnn.bench.peers import PEERS

    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: benchmarks and host information")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{bench,warmup,info}")

    bench = commands.add_parser(
        "bench",
        help="run the benchmark cases, print the table, save JSON (and a chart)",
        description="Time the lecture's dot product, logreg.propagate, mlp.train_step and whole fits in "
        "every fastnn backend (and PyTorch eager and torch.compile, JAX jax.jit, scikit-learn when "
        "installed); print per case the median time per call, speed-ups against the loop and the numpy "
        "backend, each with its spread (half the interquartile range) and a '?' on unsteady figures, and "
        "rates against the host's measured peaks. The numba kernels are compiled first (fastnn warmup).",
    )
    speed = bench.add_mutually_exclusive_group()
    speed.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="few rounds and a per-call budget: about a minute on 2 cores (default)",
    )
    speed.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="more rounds, longer batches, the fits, the numba cold start: more stable",
    )
    bench.set_defaults(mode="quick")
    bench.add_argument(
        "--backends",
        type=lambda s: _names(s, BACKENDS, "backend"),
        default=BACKENDS,
        help=f"fastnn backends to run, comma-separated (default: all of {','.join(BACKENDS)}); "
        "numpy always runs: it is the reference of the speed-ups",
    )
    bench.add_argument(
        "--peers",
        type=lambda s: _names(s, PEERS, "peer", allow_none=True),
        default=PEERS,
        help=f"peer libraries to run when installed: {','.join(PEERS)} (default) or 'none'",
    )
    bench.add_argument(
        "--cases",
        action="append",
        metavar="SUBSTRING",
        help="run only the cases whose name contains SUBSTRING (repeatable), "
        "e.g. --cases train_step --cases dot",
    )
    bench.add_argument(
        "--repeat", type=int, metavar="N", help="exactly N timed rounds per row (and N peak / import runs)"
    )
    bench.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="limit every thread pool to N threads for the run: fastnn's kernels, the BLAS and OpenMP "
        "(threadpoolctl), PyTorch (default: as configured). On a busy shared host --threads 1 is "
        "steadier: a multi-threaded call waits for its slowest, possibly descheduled, thread",
    )
    bench.add_argument(
        "--json",
        metavar="PATH",
        help=f"write the results here (default: {DEFAULT_JSON_DIR}/fastnn-bench-<timestamp>.json)",
    )
    bench.add_argument("--no-json", action="store_true", help="do not write JSON")
    bench.add_argument(
        "--plot",
        metavar="PATH",
        help="draw the speed-up chart (.png or .svg; needs matplotlib); with --report, of the saved run",
    )
    bench.add_argument(
        "--check",
        action="store_true",
        help="exit non-zero on a gross ratio regression (np.dot vs loop, compiled vs numpy)",
    )
    bench.add_argument(
        "--no-startup", action="store_true", help="skip the start-up figures (import time, numba first call)"
    )
    bench.add_argument(
        "--mixed",
        action="store_true",
        help="time fastnn as users meet it: no waiting for the threads of the previous row to sleep, "
        "and a multi-threaded np.dot right before each batch, so NumPy's BLAS thread pool is awake "
        "and spinning while the row runs (default: each batch after the process has gone quiet)",
    )
    bench.add_argument(
        "--no-warmup",
        action="store_true",
        help="do not compile the numba kernels before timing (fastnn warmup; by default it runs when "
        "the numba backend is selected, and its time is printed and saved)",
    )
    bench.add_argument("--list", action="store_true", help="list the selected cases and rows, run nothing")
    docs = bench.add_argument_group(
        "tables from a saved run",
        "Run nothing: read the JSON of an earlier run and print or write its tables.",
    )
    docs.add_argument("--report", metavar="RUN.json", help="print the saved run's header and table")
    docs.add_argument(
        "--markdown",
        nargs="?",
        const="all",
        metavar="NAME",
        help="with --report: print markdown tables instead: NAME is summary (one table for the README), "
        "dot, propagate, train_step, fits, all (default), or a substring of case names",
    )
    docs.add_argument(
        "--update-doc",
        metavar="FILE.md",
        help="with --report: replace the text between '<!-- fastnn-bench:begin NAME -->' and "
        "'<!-- fastnn-bench:end NAME -->' in FILE.md with the markdown tables of NAME",
    )

    warmup = commands.add_parser(
        "warmup",
        help="compile every numba kernel ahead of time (numba's on-disk cache)",
        description="Compile every numba kernel for each dtype and way of running (one thread, a "
        "thread team, the BLAS) into numba's on-disk cache, in parallel processes, so that no call "
        "waits for a compilation later (a Docker image, a CI cache, before benchmarking). "
        "The cache is $NUMBA_CACHE_DIR when set, else __pycache__ beside fastnn's sources.",
    )
    warmup.add_argument("--backend", choices=["numba"], default="numba",
                        help="the backend to warm up (numba: the only one compiled at run time)")
    warmup.add_argument("--dtype", choices=["float64", "float32", "all"], default="all",
                        help="the dtype to compile for (default: both)")
    warmup.add_argument("--processes", type=int, metavar="N", help="parallel processes (default: the CPUs)")

    commands.add_parser("info", help="backends, versions, build flags, SIMD, threads, BLAS")
    return parser


def _warmup(args) -> int:
    from fastnn import BackendUnavailableError, warmup

    dtypes = warmup.DTYPES if args.dtype == "all" else (args.dtype,)
    if args.processes is not None and args.processes < 1:
        print("fastnn warmup: --processes must be >= 1", file=sys.stderr)
        return 2
    try:
        summary = warmup.run(dtypes, args.processes)
    except BackendUnavailableError as exc:
        print(f"fastnn warmup: {exc}", file=sys.stderr)
        return 1
    slowest = max(summary["seconds_per_group"].items(), key=lambda kv: kv[1])
    print(
        f"fastnn warmup: {summary['groups']} kernel groups, {'/'.join(summary['dtypes'])}: "
        f"{summary['specializations']} compiled functions ({summary['compiled']} compiled now, the "
        f"others loaded from the cache), "
        f"in {summary['seconds']:.1f} s on {summary['processes']} processes "
        f"(slowest group: {slowest[0]}, {slowest[1]:.1f} s)\n"
        f"cache: {summary['cache_dir']}"
    )
    return 0


def _wants_dask(args) -> bool:
    """``--cases dask`` (any pattern that "dask" contains), or ``--full``."""
    return args.mode == "full" or any(p and p in "dask" for p in args.cases or ())


def _selected_cases(args):
    from fastnn.bench.cases import all_cases, select_cases
    from fastnn.bench.check import required_rows

    patterns = [p for p in args.cases or () if not (p and p in "dask")]
    if args.cases and not patterns:
        return [], {}  # the dask case only
    cases = select_cases(patterns)
    required = required_rows() if args.check else {}
    if required:
        chosen = {c.name for c in cases}
        cases = [c for c in all_cases() if c.name in chosen or c.name in required]
    return cases, required


def _list(cases, selection, required) -> None:
    for case in cases:
        names = [
            r.name for r in case.rows() if selection.includes(r) or r.name in required.get(case.name, ())
        ]
        print(f"{case.name}: {', '.join(names)}")


def _startup(mode, skip: bool) -> dict:
    from fastnn.bench.startup import measure_startup

    if skip:
        return {"skipped": "--no-startup"}
    return measure_startup(mode.import_repeat, numba_cold=mode.numba_cold_start)


def _saved_report(args) -> int:
    from fastnn.bench import docs, report
    from fastnn.bench.results import lecture_headline

    try:
        run, results = docs.load_run(args.report)
        if args.update_doc:
            names = docs.update_doc(args.update_doc, run, results)
            print(f"{args.update_doc}: tables {', '.join(names)} from {args.report}")
        elif args.markdown is not None:
            print(docs.markdown(run, results, args.markdown))
        else:
            print(report.format_header(run), end="\n\n")
            print(report.format_table(results))
            dot = next((c for c in results if c.kind == "dot"), None)
            if dot is not None:
                print(report.format_headline(lecture_headline(dot)))
        if args.plot:
            _plot(run, results, args.plot)
    except (OSError, ValueError) as exc:  # a missing or broken file, a name that selects nothing
        print(f"fastnn bench: {exc}", file=sys.stderr)
        return 2
    return 0


def _warmup_numba(cases, selection, required, skip: bool) -> dict | None:
    """``fastnn warmup`` for the cases' dtypes when the numba backend will run."""
    from fastnn.bench.startup import warm_numba

    if "numba" not in selection.backends and not any("numba" in rows for rows in required.values()):
        return None
    if skip:
        return {"skipped": "--no-warmup"}
    print("fastnn bench: compiling the numba kernels first (fastnn warmup) ...", file=sys.stderr)
    return warm_numba(sorted({c.dtype for c in cases}) or ["float64"])


def _bench(args, argv: list[str]) -> int:
    from fastnn.bench import check, host, peers, report
    from fastnn.bench.results import lecture_headline
    from fastnn.bench.runner import FULL, QUICK, Selection, run_benchmarks, thread_limit

    if args.report:
        return _saved_report(args)
    if args.markdown is not None or args.update_doc:
        print("fastnn bench: --markdown and --update-doc need --report RUN.json", file=sys.stderr)
        return 2
    mode = FULL if args.mode == "full" else QUICK
    for name in ("repeat", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"fastnn bench: --{name} must be >= 1", file=sys.stderr)
            return 2
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        problem = _unwritable(path)
        if problem:  # said now, not after the whole run
            print(f"fastnn bench: {option} {path}: {problem}", file=sys.stderr)
            return 2
    if args.repeat is not None:
        mode = mode.with_repeat(args.repeat)
    if args.mixed:
        mode = dataclasses.replace(mode, schedule="mixed")
    selection = Selection(backends=args.backends, peers=args.peers)
    cases, required = _selected_cases(args)
    if not cases and not _wants_dask(args):
        print(f"fastnn bench: no case name contains any of {args.cases}; try --list", file=sys.stderr)
        return 2
    if args.list:
        _list(cases, selection, required)
        if _wants_dask(args):
            print("dask: TwoLayerClassifier on a LocalCluster: overhead per iteration, weak scaling")
        return 0

    started = time.perf_counter()
    now = datetime.now()
    run: dict = {
        "schema": report.SCHEMA,
        "created": now.isoformat(timespec="seconds"),
        "command": ["fastnn", *argv],
        "mode": dataclasses.asdict(mode),
        "selection": dataclasses.asdict(selection),
    }
    run["warmup"] = _warmup_numba(cases, selection, required, args.no_warmup)
    print(report.format_warmup(run["warmup"]), flush=True)
    print("fastnn bench: describing the host and measuring its peaks ...", file=sys.stderr)
    # load the backends and peers first: their thread pools must exist for --threads to limit them
    host.describe_host()
    wanted_peers = tuple(
        p for p in selection.peers if any(peers.peer_of(r) == p for c in cases for r in c.rows())
    )
    peers.describe(wanted_peers)
    with thread_limit(args.threads) as limited:
        run["thread_limit"] = limited or None
        run["host"] = host.describe_host()
        run["peers"] = peers.describe(wanted_peers)
        run["peaks"] = host.measure_peaks(mode.peak_repeat)
        print(report.format_header(run), end="\n\n", flush=True)
        results = run_benchmarks(cases, mode, selection, required=required, peaks=run["peaks"])
    run["cases"] = [r.to_dict() for r in results]
    if results:
        print(report.format_table(results))
    if _wants_dask(args):
        from fastnn.bench.distributed import format_dask, run_dask

        print("fastnn bench: the dask case (LocalCluster, 1 and 2 workers) ...", file=sys.stderr, flush=True)
        run["dask"] = run_dask(repeat=args.repeat or 3)
        print(format_dask(run["dask"]))
    dot = next((c for c in results if c.kind == "dot"), None)
    if dot is not None:
        run["headline"] = lecture_headline(dot)
        print(report.format_headline(run["headline"]))
    # after the cases: the start-up subprocesses would compete with the timed rows
    run["startup"] = _startup(mode, args.no_startup)
    print()
    print(report.format_startup(run["startup"]))

    status = 0
    if args.check:
        outcomes = check.evaluate(results)
        run["check"] = [
            {
                "case": o.floor.case,
                "row": o.floor.row,
                "reference": o.floor.reference,
                "floor": o.floor.minimum,
                "value": o.value,
                "status": o.status,
                "note": o.note,
            }
            for o in outcomes
        ]
        print()
        print(report.format_check(outcomes))
        status = 1 if any(o.status == "FAIL" for o in outcomes) else 0

    run["wall_seconds"] = time.perf_counter() - started
    run["load_average_end"] = host.load_average()
    load = " ".join(f"{x:g}" for x in run["load_average_end"] or ())
    print(
        f"\nwall time {run['wall_seconds']:.1f} s (--{mode.name}); load averages at the end: {load or 'n/a'}"
    )
    if not args.no_json:
        path = args.json or DEFAULT_JSON_DIR / f"fastnn-bench-{now:%Y%m%d-%H%M%S}.json"
        print(f"results: {report.write_json(run, path)}")
    if args.plot:
        _plot(run, results, args.plot)
    return status


def _plot(run: dict, results, path: str) -> None:
    from fastnn.bench import report

    try:
        print(f"chart: {report.plot_speedups(results, path, title=run['host']['cpu']['model'])}")
    except ImportError:
        print("chart: matplotlib is not installed, no chart drawn (pip install matplotlib)")


def _unwritable(path: str | None) -> str | None:
    """Why ``path`` cannot be written (its folder missing or not writable), or None."""
    import os

    if path is None:
        return None
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK) or (Path(path).exists() and not os.access(path, os.W_OK)):
        return "not writable"
    return None


def _info() -> int:
    from fastnn._dispatch import default_problem
    from fastnn.bench import host, report

    print(report.format_host(host.describe_host()))
    problem = default_problem()
    if problem:
        print(f"default backend: {problem}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastnn`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "bench":
        return _bench(args, argv)
    if args.command == "warmup":
        return _warmup(args)
    return _info()


if __name__ == "__main__":
    sys.exit(main())
