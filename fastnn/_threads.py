"""The thread count the compiled kernels may use.

Starts as ``$OMP_NUM_THREADS`` (when it is a positive integer) or the number of CPUs this
process may run on.  Kernels only use more than one thread where the work pays for it
(see each backend's measured threshold), and only while another core is idle
(:func:`cores_free`); the BLAS keeps its own setting (threadpoolctl).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

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
_TASKS = "/proc/self/task"
_load = [0.0, True]  # [next look (time.monotonic), cores free]


def _is_running(tid: int) -> bool:
    """Whether thread ``tid`` of this process is runnable (state ``R`` in its ``stat``)."""
    try:
        with open(f"{_TASKS}/{tid}/stat", "rb") as f:
            stat = f.read()
    except OSError:  # the thread has ended
        return False
    end = stat.rfind(b")")  # the name, in parentheses, may hold spaces
    return stat[end + 2:end + 3] == b"R"


def _ids(pool_threads: Callable[[], Iterable[int]] | None) -> Iterable[int]:
    """The pool's thread ids, or none when they cannot be had (the check must never make a
    kernel call fail: without them the pool's spinning workers count as load)."""
    try:
        return pool_threads() if pool_threads else ()
    except Exception:  # e.g. a JIT that cannot compile the probe
        return ()


def cores_free(pool_threads: Callable[[], Iterable[int]] | None = None) -> bool:
    """Whether a core is idle for a kernel's second thread (looked at every 0.1 s at most;
    True where ``/proc`` is missing).

    The runnable tasks (the fourth field of ``/proc/loadavg``), less the kernel's own
    runnable threads -- this one and those of its thread pool, whose ids
    ``pool_threads()`` gives -- must be fewer than the CPUs minus this thread.  A threaded
    kernel runs its chunks on one thread when this is False: the same chunks, so bitwise
    the same result, without two threads fighting over a core (another library's thread
    pool still spinning after its call -- NumPy's OpenBLAS spins ~0.1 s -- made a threaded
    step up to 2.9x slower than one thread).  The own pool's workers do not count: they spin a
    little after each parallel region and are the threads the next one uses.  The Python
    twin of ``fastnn_cores_free`` in ``kernels/vecmath.h``.
    """
    now = time.monotonic()
    if now >= _load[0]:
        _load[0] = now + _LOAD_EVERY
        try:
            own = {threading.get_native_id(), *_ids(pool_threads)}
            running_own = max(1, sum(_is_running(tid) for tid in own))
            with open(_LOADAVG, "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
            _load[1] = running - running_own + 1 < (os.cpu_count() or 1)
        except (OSError, ValueError, IndexError):
            _load[1] = True
    return _load[1]
