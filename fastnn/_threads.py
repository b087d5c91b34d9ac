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
_TASKS = "/proc/self/task"
_load = [0.0, True]  # [next look (time.monotonic), cores free]


def _running_here() -> int:
    """Runnable threads of this process (state ``R`` in ``/proc/self/task/*/stat``)."""
    n = 0
    try:
        tids = os.listdir(_TASKS)
    except OSError:
        return 1  # this thread
    for tid in tids:
        try:
            with open(f"{_TASKS}/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread has ended
            continue
        end = stat.rfind(b")")  # the name, in parentheses, may hold spaces
        n += stat[end + 2:end + 3] == b"R"
    return max(n, 1)


def cores_free() -> bool:
    """Whether a core is idle for a kernel's second thread: fewer runnable threads in
    *other* processes than CPUs minus this thread (the fourth field of ``/proc/loadavg``
    less this process's runnable threads; looked at every 0.1 s at most; True where
    ``/proc`` is missing).

    A threaded kernel runs its chunks on one thread when this is False: the same chunks,
    so bitwise the same result, without two threads fighting over a core another
    program is using.  This process's own runnable threads do not count: after a call,
    a thread pool's workers (numba's, OpenBLAS's, the Cython extension's OpenMP) spin
    for a while before they sleep, and they yield or are the kernel's own workers
    (counting them, the check said "busy" after nearly every call and halved the
    threaded kernels' speed in loops).  The Python twin of ``fastnn_cores_free`` in
    ``kernels/vecmath.h``.
    """
    now = time.monotonic()
    if now >= _load[0]:
        _load[0] = now + _LOAD_EVERY
        try:
            with open(_LOADAVG, "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
            others = running - _running_here()
            _load[1] = others + 1 < (os.cpu_count() or 1)
        except (OSError, ValueError, IndexError):
            _load[1] = True
    return _load[1]
