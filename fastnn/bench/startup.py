"""Start-up is part of speed: ``import fastnn`` and the numba backend's first call.

Each figure comes from a fresh interpreter (a subprocess running this same Python on this
same ``fastnn``).  The numba backend's first call is measured with ``NUMBA_CACHE_DIR``
pointing at a fresh temporary directory (cold: every kernel compiles) and then again on
that directory (warm: kernels load from the on-disk cache); or, cheaply, warm only, on
this environment's own cache.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import fastnn
from fastnn import BackendUnavailableError
from fastnn._dispatch import resolve

__all__ = ["measure_import", "measure_numba_first_call", "measure_startup"]

_IMPORT_SNIPPET = """
import json, time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
import fastnn
t2 = time.perf_counter()
print(json.dumps({"numpy": t1 - t0, "fastnn": t2 - t1, "total": t2 - t0}))
"""

# The hot path of the course's planar model: one train_step at (2, 4, 400) float64.
CALL = "mlp.train_step (2, 4, 400) float64"
_NUMBA_SNIPPET = """
import json, time
import numpy as np
import fastnn
from fastnn._dispatch import resolve
X, Y = fastnn.datasets.load_planar()
Y = Y.astype(np.float64)
params = fastnn.mlp.initialize_parameters(2, 4, 1, random_state=2)
t0 = time.perf_counter()
resolve("numba")
t1 = time.perf_counter()
fastnn.mlp.train_step(params, X, Y, 1e-3, backend="numba")
t2 = time.perf_counter()
fastnn.mlp.train_step(params, X, Y, 1e-3, backend="numba")
t3 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "first_call": t2 - t1, "second_call": t3 - t2}))
"""


def _run(snippet: str, env_extra: dict | None = None, timeout: float = 600.0) -> dict:
    """Run ``snippet`` in a fresh interpreter importing this very fastnn; its JSON output."""
    env = dict(os.environ)
    source_root = str(Path(fastnn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, env=env, timeout=timeout
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"subprocess failed ({proc.returncode}): {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_import(repeat: int = 3) -> dict:
    """Median seconds of ``import numpy`` and then ``import fastnn`` in fresh interpreters."""
    runs = [_run(_IMPORT_SNIPPET) for _ in range(repeat)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"repeat": repeat}


def measure_numba_first_call(cold: bool = True, timeout: float = 600.0) -> dict:
    """Seconds to load the numba backend and make its first (and second) ``train_step``
    call in a fresh interpreter.

    With ``cold``, ``NUMBA_CACHE_DIR`` points at a fresh temporary directory: the first
    run compiles every kernel it needs (cold), a second run loads them from there (warm).
    Without, both runs use this environment's own cache and only the second (warm) is
    reported: cheap once the benchmark itself has compiled the kernels.
    """
    if cold:
        with tempfile.TemporaryDirectory(prefix="fastnn-numba-cache-") as cache_dir:
            env = {"NUMBA_CACHE_DIR": cache_dir}
            first = _run(_NUMBA_SNIPPET, env, timeout)
            warm = _run(_NUMBA_SNIPPET, env, timeout)
        return {"cold": first, "warm": warm, "call": CALL}
    _run(_NUMBA_SNIPPET, None, timeout)  # makes sure this environment's cache is filled
    return {"warm": _run(_NUMBA_SNIPPET, None, timeout), "call": CALL, "cache": "this environment's"}


def measure_startup(repeat: int = 3, numba_cold: bool = True) -> dict:
    """``import fastnn`` times and the numba backend's first-call times (see
    :func:`measure_numba_first_call`); failures are recorded as ``{"error": text}``."""
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
        result["numba"] = measure_numba_first_call(numba_cold)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        result["numba"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result
