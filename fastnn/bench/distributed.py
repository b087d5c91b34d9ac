"""The ``dask`` case of ``fastnn bench`` (``--cases dask``): what training on a Dask cluster
costs per iteration, and how it scales with the workers.

* **Overhead**: a ``TwoLayerClassifier`` fit on a ``LocalCluster(n_workers=2,
  threads_per_worker=1)`` against the same fit in memory, per iteration, at the planar size
  (400 samples, 2 features) and at (200,000, 100).
* **Weak scaling**: the same work per worker on 1 and on 2 workers (100,000 samples per
  worker, 100 features): the per-iteration time should stay flat; its growth is the price
  of the reduction and the broadcast.

Times are medians of ``repeat`` fits of ``ITERATIONS`` iterations (the first fit, which
compiles the kernels on the workers, is not timed).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

ITERATIONS = 20
OVERHEAD_SIZES = ((400, 2, 2), (200_000, 100, 4))  # (samples, features, chunks)
WEAK_PER_WORKER = (100_000, 100)


def _data(n, n_features, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def _per_iteration(fit, repeat: int) -> float:
    fit()  # untimed: compiles (or loads) the kernels, warms the cluster
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fit()
        times.append((time.perf_counter() - start) / ITERATIONS)
    return statistics.median(times)


def run_dask(backend: str = "numba", repeat: int = 3) -> dict:
    """The overhead and weak-scaling figures (seconds per iteration); ``{"unavailable":
    reason}`` without the dask extra."""
    try:
        import dask.array as da
        from distributed import Client, LocalCluster
    except ImportError as exc:
        return {"unavailable": f"{exc} (pip install fastnn[dask])"}
    from fastnn import TwoLayerClassifier

    def model():
        return TwoLayerClassifier(n_hidden=4, max_iter=ITERATIONS, random_state=0, backend=backend)

    result: dict = {"backend": backend, "iterations": ITERATIONS, "overhead": [], "weak_scaling": []}
    kwargs = {"threads_per_worker": 1, "processes": True, "host": "127.0.0.1", "dashboard_address": None}
    with LocalCluster(n_workers=2, **kwargs) as cluster, Client(cluster):
        for n, n_features, chunks in OVERHEAD_SIZES:
            X, y = _data(n, n_features)
            dX = da.from_array(X, chunks=(n // chunks, n_features))
            dy = da.from_array(y, chunks=(n // chunks,))
            here = _per_iteration(lambda: model().fit(X, y), repeat)  # noqa: B023
            there = _per_iteration(lambda: model().fit(dX, dy), repeat)  # noqa: B023
            result["overhead"].append({"samples": n, "features": n_features, "chunks": chunks,
                                       "in_memory": here, "dask": there, "overhead": there - here})
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, **kwargs) as cluster, Client(cluster):
            n = WEAK_PER_WORKER[0] * workers
            X, y = _data(n, WEAK_PER_WORKER[1])
            dX = da.from_array(X, chunks=(WEAK_PER_WORKER[0], WEAK_PER_WORKER[1]))
            dy = da.from_array(y, chunks=(WEAK_PER_WORKER[0],))
            seconds = _per_iteration(lambda: model().fit(dX, dy), repeat)  # noqa: B023
            result["weak_scaling"].append({"workers": workers, "samples": n, "seconds": seconds})
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def format_dask(result: dict, markdown: bool = False) -> str:
    """The two tables, as text or markdown."""
    if "unavailable" in result:
        return f"dask: unavailable: {result['unavailable']}"
    rows_a = [[f"{r['samples']:,} x {r['features']}", str(r["chunks"]), _ms(r["in_memory"]), _ms(r["dask"]),
               _ms(r["overhead"])] for r in result["overhead"]]
    base = result["weak_scaling"][0]["seconds"]
    rows_b = [[str(r["workers"]), f"{r['samples']:,}", _ms(r["seconds"]), f"{base / r['seconds']:.2f}"]
              for r in result["weak_scaling"]]
    head_a = ["samples x features", "chunks", "in memory", "on 2 workers", "overhead"]
    head_b = ["workers", "samples (100,000 per worker)", "per iteration", "efficiency"]
    title = (f"TwoLayerClassifier (n_hidden=4, {result['backend']} backend), seconds per iteration, "
             f"median of fits of {result['iterations']} iterations")
    if not markdown:
        width = 14
        text = [f"dask: {title}", "  " + "".join(h[:width].rjust(width) for h in head_a)]
        text += ["  " + "".join(c.rjust(width) for c in r) for r in rows_a]
        scaling = "; ".join(f"{r[0]} worker(s) {r[2]} (efficiency {r[3]})" for r in rows_b)
        text += [f"  weak scaling: {scaling}"]
        return "\n".join(text)

    def table(head, rows):
        return [f"| {' | '.join(head)} |", "|" + "---:|" * len(head), *(f"| {' | '.join(r)} |" for r in rows)]

    return "\n".join([f"*{title}.*", "", *table(head_a, rows_a), "", *table(head_b, rows_b)])
