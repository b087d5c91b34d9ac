"""The thread count the compiled kernels may use.

Starts as ``$OMP_NUM_THREADS`` (when it is a positive integer) or the number of CPUs this
process may run on.  Kernels only use more than one thread where the work pays for it
(see each backend's measured threshold); the BLAS keeps its own setting (threadpoolctl).
"""

from __future__ import annotations

import os

from fastnn._validation import count


def _initial() -> int:
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        n = 0
    if n >= 1:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_n_threads = _initial()


def get_num_threads() -> int:
    """The number of threads fastnn's compiled kernels may use."""
    return _n_threads


def set_num_threads(n: int) -> None:
    """Let fastnn's compiled kernels use up to ``n >= 1`` threads."""
    global _n_threads
    _n_threads = count(n, "n")
