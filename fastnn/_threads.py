"""The thread count the compiled kernels may use.

Starts as ``$OMP_NUM_THREADS`` (when it is a positive integer) or the number of CPUs this
process may run on.  Kernels only use more than one thread where the work pays for it
(see each backend's measured threshold), and only while another core is idle
(:func:`cores_free`); the BLAS keeps its own setting (threadpoolctl).
"""

from __future__ import annotations

import os
import time

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


#: Seconds between two looks at the run queue (the C twin in kernels/vecmath.h: the same).
_LOAD_EVERY = 0.1
_LOADAVG = "/proc/loadavg"
_load = [0.0, True]  # [next look (time.monotonic), cores free]


def cores_free() -> bool:
    """Whether another core is idle: fewer runnable threads than CPUs right now (the fourth
    field of ``/proc/loadavg``, looked at every 0.1 s at most; True where it is missing).

    A threaded kernel runs its chunks on one thread when this is False: the same chunks,
    so bitwise the same result, without two threads fighting a busy core (another
    library's thread pool still spinning after its call, say, which costs several times
    the kernel).  The Python twin of ``fastnn_cores_free`` in ``kernels/vecmath.h``.
    """
    now = time.monotonic()
    if now >= _load[0]:
        _load[0] = now + _LOAD_EVERY
        try:
            with open(_LOADAVG, "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
            _load[1] = running < (os.cpu_count() or 1)
        except (OSError, ValueError, IndexError):
            _load[1] = True
    return _load[1]
