"""The thread policy and tuning knobs of fastnn's compiled backends, in one place.

Threads
    fastnn's kernels may use up to :func:`get_num_threads` threads: ``$OMP_NUM_THREADS``
    when it is a positive integer, else the CPUs this process may run on, until
    :func:`set_num_threads` says otherwise.  A call uses them only when its work pays for
    them (:func:`threads_for`: from :data:`PARALLEL_WORK` multiply-adds), so small
    calls never pay for starting a thread team, and the choice is deterministic: it
    depends on the sizes, never on what else runs.  The numba backend also stays within
    ``numba.get_num_threads()``, the cython backend within OpenMP's limit (which
    ``threadpoolctl.threadpool_limits`` sets); the BLAS keeps its own setting.

    After ``os.fork()`` the child runs every kernel on one thread (GNU OpenMP's thread
    pool does not survive a fork: a child entering it can hang); ``set_num_threads`` in
    the child lifts this, at the child's own risk.  Processes started with ``spawn`` or
    ``forkserver`` are not affected.

Knobs
    Module-level values the backends read on every call.  The defaults are measured (see
    docs/performance.md); change them with :func:`override`, for an experiment or a test
    that needs the threaded or the BLAS path on small data::

        with fastnn.tuning.override(parallel_work=0):
            ...  # every call with n_threads > 1 takes the threaded path

``PARALLEL_WORK``
    units of work per call from which a kernel uses more than one thread: multiply-adds for
    the 2-layer step (``n_h m (2 n_x + 16)``), four per element of ``X`` for logistic
    regression's pass and eight per element for ``dot`` (they stream their data: an element
    costs more than a multiply-add).  Below it a call runs on one thread.  The threshold is
    high on purpose: a thread team waits for its slowest thread, and when another library's
    threads still spin on the other cores (NumPy's OpenBLAS does after each call) a team
    on mid-size work ran several times slower than one thread (``fastnn bench --mixed``).
``BLAS_WORK``, ``BLAS_MIN_DIM``, ``BLAS_MIN_HIDDEN``
    the 2-layer step's two big products go to NumPy's BLAS (:func:`blas_for`) when
    ``n_h n_x m`` is at least ``BLAS_WORK``, ``n_x`` and ``m`` are at least ``BLAS_MIN_DIM``
    and ``n_h`` at least ``BLAS_MIN_HIDDEN``.  The BLAS runs its products on its own threads,
    the pool NumPy uses: unlike a thread team of fastnn's, it does not wait for a core that
    NumPy's spinning threads hold, so a large layer is as fast in a program that mixes
    fastnn with NumPy as in the benchmark; a layer narrower than a few hidden units gains
    nothing from it.  ``logreg.propagate`` (two matrix-vector products) goes to the BLAS
    (:func:`logreg_blas_for`) wherever it would use threads (from ``PARALLEL_WORK``) and
    ``n_x``, ``m`` are at least ``BLAS_MIN_DIM``, for the same reason; a fit (``optimize``:
    many passes in one call) keeps fastnn's threads, which outlast NumPy's spinning ones.
``BLOCK_BYTES``
    the activations of one block of examples (``Z1`` and ``dZ1``) take at most this many
    bytes, so that they stay in the L1 cache through the block's step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from fastnn._validation import count

PARALLEL_WORK = 1 << 21
BLAS_WORK = 1 << 22
BLAS_MIN_DIM = 32
BLAS_MIN_HIDDEN = 4
BLOCK_BYTES = 32 * 1024

_KNOBS = ("PARALLEL_WORK", "BLAS_WORK", "BLAS_MIN_DIM", "BLAS_MIN_HIDDEN", "BLOCK_BYTES")


def _initial_threads() -> int:
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


_n_threads = _initial_threads()


def get_num_threads() -> int:
    """The number of threads fastnn's compiled kernels may use."""
    return _n_threads


def set_num_threads(n: int) -> None:
    """Let fastnn's compiled kernels use up to ``n >= 1`` threads."""
    global _n_threads
    _n_threads = count(n, "n")


def threads_for(work: float, n_threads: int) -> int:
    """The threads a call of ``work`` multiply-adds runs on, of the ``n_threads`` it may use:
    all of them from :data:`PARALLEL_WORK` on, else one."""
    return n_threads if work >= PARALLEL_WORK else 1


def blas_for(n_x: int, n_h: int, m: int) -> bool:
    """Whether the 2-layer step of these sizes runs its two big products on the BLAS."""
    return n_x * n_h * m >= BLAS_WORK and min(n_x, m) >= BLAS_MIN_DIM and n_h >= BLAS_MIN_HIDDEN


def logreg_blas_for(n_x: int, m: int) -> bool:
    """Whether ``logreg.propagate`` of these sizes runs its two products on the BLAS."""
    return 4 * n_x * m >= PARALLEL_WORK and min(n_x, m) >= BLAS_MIN_DIM


def _one_thread_after_fork() -> None:
    global _n_threads
    _n_threads = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_one_thread_after_fork)


def settings() -> dict:
    """The knobs' current values and the thread count, by name."""
    values = {name: globals()[name] for name in _KNOBS}
    values["num_threads"] = _n_threads
    return values


@contextlib.contextmanager
def override(**changes) -> Iterator[None]:
    """Set knobs (lower-case names: ``parallel_work=0``, ``blas_work=...``,
    ``num_threads=2``) inside the ``with`` block, process-wide; restored after."""
    names = {name.lower(): name for name in _KNOBS}
    unknown = [k for k in changes if k not in names and k != "num_threads"]
    if unknown:
        raise TypeError(f"unknown tuning knob(s) {unknown}; known: {sorted(names)} and 'num_threads'")
    before = settings()
    try:
        for key, value in changes.items():
            if key == "num_threads":
                set_num_threads(value)
            else:
                globals()[names[key]] = count(value, key, minimum=0)
        yield
    finally:
        for name in _KNOBS:
            globals()[name] = before[name]
        set_num_threads(before["num_threads"])
