"""``fastnn warmup``: compile every numba kernel ahead of time, into numba's on-disk cache.

The numba backend compiles each kernel on its first call, for that call's dtype and way of
running (one thread, a thread team, the BLAS), and caches it on disk: a few seconds per
kernel, once per machine (and per fastnn version).  Warming up moves that cost to a moment
of your choice -- a Docker image build, a CI cache step, before benchmarking -- by calling
every kernel once on tiny data, in parallel processes (one per group of kernels: two
processes never write the same kernel's cache entry).

The cache is numba's: ``$NUMBA_CACHE_DIR`` when set, else ``__pycache__`` folders beside
fastnn's installed sources.  Point ``NUMBA_CACHE_DIR`` at a writable folder to keep it
elsewhere (a CI cache, a volume); a process with another ``NUMBA_CACHE_DIR`` compiles again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

__all__ = ["Job", "jobs", "run"]

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Job:
    """A group of kernels compiled in one process, both dtypes."""

    name: str
    call: Callable[[str], None]


def _data(dtype: str, n_x: int = 3, n_h: int = 4, m: int = 40):
    from fastnn import mlp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    return X, Y, mlp.initialize_parameters(n_x, n_h, 1, random_state=0, dtype=dtype)


def _mlp_step(**tuning_changes) -> Callable[[str], None]:
    def call(dtype: str) -> None:
        from fastnn import mlp, tuning

        X, Y, params = _data(dtype)
        with tuning.override(**tuning_changes):
            mlp.train_step(params, X, Y, backend="numba")

    return call


def _mlp_course(dtype: str) -> None:
    from fastnn import mlp

    X, Y, params = _data(dtype)
    A2, cache = mlp.forward_propagation(X, params, backend="numba")
    grads = mlp.backward_propagation(params, cache, X, Y, backend="numba")
    mlp.compute_cost(A2, Y, backend="numba")
    mlp.update_parameters(params, grads, backend="numba")


def _mlp_gradients(dtype: str) -> None:
    from fastnn._dispatch import resolve

    X, Y, params = _data(dtype)
    resolve("numba").mlp_gradients(X, Y, *(params[k] for k in ("W1", "b1", "W2", "b2")), 0, 1)


def _logreg(**tuning_changes) -> Callable[[str], None]:
    def call(dtype: str) -> None:
        from fastnn import logreg, tuning

        X, Y, _ = _data(dtype)
        w = np.zeros((X.shape[0], 1), dtype)
        with tuning.override(**tuning_changes):
            logreg.propagate(w, 0.0, X, Y, backend="numba")
            logreg.optimize(w, 0.0, X, Y, num_iterations=2, backend="numba")
            logreg.predict(w, 0.0, X, backend="numba")

    return call


def _ops(dtype: str) -> None:
    import fastnn
    from fastnn import tuning

    a = np.linspace(-1.0, 1.0, 64).astype(dtype)
    fastnn.sigmoid(a, backend="numba")
    fastnn.dot(a, a, backend="numba")
    with tuning.override(parallel_work=0, num_threads=2):
        fastnn.dot(a, a, backend="numba")


_ONE_THREAD = {"parallel_work": 1 << 62, "blas_work": 1 << 62}
_THREADS = {"parallel_work": 0, "num_threads": 2, "blas_work": 1 << 62, "blas_min_dim": 1 << 62}


def jobs() -> list[Job]:
    """Every group of numba kernels, the one-thread step first (what most calls need)."""
    return [
        Job("mlp.train_step, one thread", _mlp_step(**_ONE_THREAD)),
        Job("logreg, one thread", _logreg(**_ONE_THREAD)),
        Job("mlp.train_step, thread team", _mlp_step(**_THREADS)),
        Job("mlp.train_step, BLAS", _mlp_step(blas_work=0, blas_min_dim=1, blas_min_hidden=1)),
        Job("logreg, thread team", _logreg(**_THREADS)),
        Job("logreg.propagate, BLAS", _logreg(parallel_work=0, blas_min_dim=1)),
        Job("mlp forward/backward/cost/update", _mlp_course),
        Job("mlp gradients (dask)", _mlp_gradients),
        Job("sigmoid, dot", _ops),
    ]


def _specializations() -> dict[str, bool]:
    """The numba backend's compiled functions in this process, one key per function and
    signature, True when it was compiled here (False: loaded from the cache)."""
    import sys

    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("fastnn._backends.numba.") and module is not None:
            for value in vars(module).values():
                if isinstance(value, Dispatcher) and value.__module__ == name:
                    compiled = set(value.stats.cache_misses)
                    for sig in value.signatures:
                        found[f"{name}.{value.__name__}{sig}"] = sig in compiled
    return found


def _run_job(index: int, dtypes: tuple[str, ...]) -> tuple[int, float, dict[str, bool]]:
    job = jobs()[index]
    start = time.perf_counter()
    for dtype in dtypes:
        job.call(dtype)
    return index, time.perf_counter() - start, _specializations()


def cache_dir() -> str:
    """Where numba keeps the compiled kernels."""
    import numba

    if numba.config.CACHE_DIR:
        return numba.config.CACHE_DIR
    import fastnn._backends.numba as backend

    return os.path.join(os.path.dirname(backend.__file__), "__pycache__")


def run(dtypes: Iterable[str] = DTYPES, processes: int | None = None, progress: bool = True) -> dict:
    """Compile every numba kernel for ``dtypes``; returns a summary: ``groups``,
    ``specializations`` (compiled functions: one per function and signature, the kernels'
    helpers included) of which ``compiled`` were compiled now (the others were in the cache),
    ``seconds``, ``cache_dir``.  Raises what a failing compilation raised."""
    from fastnn._dispatch import resolve

    resolve("numba")  # unavailable: BackendUnavailableError with the reason, before any process
    dtypes = tuple(dtypes)
    todo = jobs()
    processes = processes or min(len(todo), max(1, len(os.sched_getaffinity(0))))
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="fastnn warmup", unit="group")
    seconds: dict[str, float] = {}
    found: dict[str, bool] = {}
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_job, i, dtypes) for i in range(len(todo))]
        for future in as_completed(futures):
            index, took, specializations = future.result()
            seconds[todo[index].name] = took
            for key, compiled in specializations.items():
                found[key] = found.get(key, False) or compiled
            if bar is not None:
                bar.set_postfix_str(todo[index].name, refresh=False)
                bar.update()
    if bar is not None:
        bar.close()
    return {
        "groups": len(todo),
        "specializations": len(found),
        "compiled": sum(found.values()),
        "dtypes": dtypes,
        "seconds": time.perf_counter() - start,
        "seconds_per_group": seconds,
        "processes": processes,
        "cache_dir": cache_dir(),
    }
