"""Start-up is part of speed: ``import fastnn``, the numba warm-up and first calls.

Each first-call figure comes from a fresh interpreter (a subprocess running this same
Python on this same ``fastnn``), one per call measured, so that one call's compilation
does not hide in another's.  With a cold cache, ``NUMBA_CACHE_DIR`` points at a fresh
temporary directory (every kernel the call needs compiles), and a second interpreter on
that directory gives the warm figure (kernels load from the on-disk cache); or, cheaply,
the warm figure alone, on this environment's own cache.

:func:`warm_numba` is the other way round: ``fastnn warmup`` before the benchmark, so no
timed row waits for a compilation and the user sees what is compiled, and how long it takes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import fastnn
from fastnn import BackendUnavailableError
from fastnn._dispatch import resolve

__all__ = ["FIRST_CALLS", "measure_import", "measure_numba_first_calls", "measure_startup", "warm_numba"]

_IMPORT_SNIPPET = """
import json, time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
import fastnn
t2 = time.perf_counter()
print(json.dumps({"numpy": t1 - t0, "fastnn": t2 - t1, "total": t2 - t0}))
"""

#: The numba backend's first calls measured, each in its own interpreter: the hot paths of
#: the course's two models on the planar data, float64.
FIRST_CALLS = {
    "train_step": "mlp.train_step (2, 4, 400) float64",
    "propagate": "logreg.propagate (2, 400) float64",
}
_FIRST_CALL_SNIPPET = """
import json, sys, time
import numpy as np
import fastnn
from fastnn._dispatch import resolve
X, Y = fastnn.datasets.load_planar()
Y = Y.astype(np.float64)
if sys.argv[1] == "train_step":
    params = fastnn.mlp.initialize_parameters(2, 4, 1, random_state=2)
    call = lambda: fastnn.mlp.train_step(params, X, Y, 1e-3, backend="numba")
else:
    w = np.zeros((2, 1))
    call = lambda: fastnn.logreg.propagate(w, 0.0, X, Y, backend="numba")
t0 = time.perf_counter()
resolve("numba")
t1 = time.perf_counter()
call()
t2 = time.perf_counter()
call()
t3 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "first_call": t2 - t1, "second_call": t3 - t2}))
"""


def _run(
    snippet: str, args: Iterable[str] = (), env_extra: dict | None = None, timeout: float = 600.0
) -> dict:
    """Run ``snippet`` in a fresh interpreter importing this very fastnn; its JSON output."""
    env = dict(os.environ)
    source_root = str(Path(fastnn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-c", snippet, *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"subprocess failed ({proc.returncode}): {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_import(repeat: int = 3) -> dict:
    """Median seconds of ``import numpy`` and then ``import fastnn`` in fresh interpreters."""
    runs = [_run(_IMPORT_SNIPPET) for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"repeat": repeat}


def measure_numba_first_calls(cold: bool = True, timeout: float = 600.0) -> dict:
    """Per call of :data:`FIRST_CALLS`: seconds to load the numba backend and make the first
    (and second) call in a fresh interpreter.

    With ``cold``, each call gets its own fresh ``NUMBA_CACHE_DIR``: a first interpreter
    compiles what the call needs (``cold``), a second loads it from there (``warm``).
    Without, only ``warm`` is measured, on this environment's cache, after one run that
    makes sure the cache holds the kernels: cheap once ``fastnn warmup`` ran.
    """
    figures: dict = {}
    for name, what in FIRST_CALLS.items():
        if cold:
            with tempfile.TemporaryDirectory(prefix="fastnn-numba-cache-") as cache_dir:
                env = {"NUMBA_CACHE_DIR": cache_dir}
                first = _run(_FIRST_CALL_SNIPPET, [name], env, timeout)
                figures[name] = {
                    "call": what,
                    "cold": first,
                    "warm": _run(_FIRST_CALL_SNIPPET, [name], env, timeout),
                }
        else:
            _run(_FIRST_CALL_SNIPPET, [name], None, timeout)
            warm = _run(_FIRST_CALL_SNIPPET, [name], None, timeout)
            figures[name] = {"call": what, "warm": warm, "cache": "this environment's"}
    return figures


def measure_startup(repeat: int = 3, numba_cold: bool = True) -> dict:
    """``import fastnn`` times and the numba backend's first-call times (see
    :func:`measure_numba_first_calls`); failures are recorded as ``{"error": text}``."""
    result: dict = {}
    try:
        result["import"] = measure_import(repeat)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        result["import"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        resolve("numba")
    except BackendUnavailableError as exc:
        result["numba"] = {"unavailable": exc.reason}
        return result
    try:
        result["numba"] = measure_numba_first_calls(numba_cold)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        result["numba"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def warm_numba(dtypes: Iterable[str]) -> dict:
    """``fastnn.warmup.run(dtypes)``: every numba kernel compiled (or found in the cache)
    before timing, with a progress bar; its summary, or ``{"unavailable": reason}`` /
    ``{"error": text}``."""
    from fastnn import warmup

    start = time.perf_counter()
    try:
        return warmup.run(dtypes=tuple(dtypes))
    except BackendUnavailableError as exc:
        return {"unavailable": exc.reason}
    except Exception as exc:  # a kernel that fails to compile: its row will say so too
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - start}
