"""Timing on a shared, noisy machine: batches, calibration, interleaved rounds, medians.

A *sample* is the time per call of one batch of calls (the batch long enough that timer
resolution and call jitter do not matter).  The rows of a case are timed in *rounds*:
each round times one batch of every row (in a new order each round), so a slow spell of
the machine hits all rows alike, and a row's figure is the median of its samples.  Each
batch starts once the threads the rows before it left spinning have gone to sleep.
"""

from __future__ import annotations

import gc
import math
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["calibrate", "interleave", "median", "resized_batch", "rounds_for", "settle", "time_batch"]


def time_batch(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call of ``number`` back-to-back calls of ``fn`` (garbage collector off)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate(fn: Callable[[], Any], batch_seconds: float, max_tries: int = 6) -> tuple[int, float]:
    """A batch size ``number`` whose batch lasts at least ``batch_seconds``, and the last
    measured time per call.

    Starts from one call and grows the batch from what it measured (like
    :meth:`timeit.Timer.autorange`, but aiming at the target directly), at most tenfold
    per step: on a busy host one fast call must not size a batch of thousands of slow ones.
    """
    number = 1
    per_call = time_batch(fn, number)
    for _ in range(max_tries):
        if per_call * number >= batch_seconds:
            break
        wanted = math.ceil(1.2 * batch_seconds / max(per_call, 1e-9))
        number = max(number + 1, min(wanted, 10 * number))
        per_call = time_batch(fn, number)
    return number, per_call


def resized_batch(number: int, per_call: float, batch_seconds: float, slack: float = 4.0) -> int:
    """The batch size to use next: ``number``, or fewer calls when the last batch lasted
    more than ``slack`` times ``batch_seconds`` (the calls got slower since calibration)."""
    if number > 1 and per_call * number > slack * batch_seconds:
        return max(1, math.ceil(batch_seconds / per_call))
    return number


def rounds_for(batch_time: float, rounds: int, min_rounds: int, row_seconds: float) -> int:
    """How many rounds a row gets: ``rounds``, cut so the row stays within ``row_seconds``
    of timing, but never below ``min_rounds`` — unless one batch alone lasts longer than
    ``row_seconds``: then one round."""
    if batch_time > row_seconds:
        return 1
    affordable = int(row_seconds // batch_time) if batch_time > 0 else rounds
    return max(min_rounds, min(rounds, affordable))


#: The longest wait, before a batch, for the process's other threads to stop running.
SETTLE_SECONDS = 0.3
_TASKS = "/proc/self/task"


def _is_running(tid: int) -> bool:
    """Whether thread ``tid`` of this process is runnable (state ``R`` in its ``stat``)."""
    try:
        with open(f"{_TASKS}/{tid}/stat", "rb") as f:
            stat = f.read()
    except OSError:  # the thread has ended
        return False
    end = stat.rfind(b")")  # the name, in parentheses, may hold spaces
    return stat[end + 2 : end + 3] == b"R"


def settle(timeout: float = SETTLE_SECONDS, poll: float = 0.002) -> float:
    """Wait until no other thread of this process is runnable -- the thread pools of the
    rows timed before have gone to sleep (NumPy's OpenBLAS spins ~0.1 s after a call) --
    or ``timeout`` seconds; returns the seconds waited.

    Without it a row's batch shares the cores with the spinning pool its predecessor left:
    the table would show the neighbour, not the row.
    """
    start = time.perf_counter()
    me = threading.get_native_id()
    while True:
        try:
            others = [int(tid) for tid in os.listdir(_TASKS) if int(tid) != me]
        except OSError:  # no /proc: nothing to wait for
            return 0.0
        waited = time.perf_counter() - start
        if waited >= timeout or not any(_is_running(tid) for tid in others):
            return waited
        time.sleep(poll)


def interleave(
    timers: Sequence[Callable[[], float | None]],
    rounds: Sequence[int],
    samples: Sequence[list[float]],
    on_sample: Callable[[int], None] | None = None,
    seed: int = 0,
    before: Callable[[], object] | None = None,
) -> None:
    """Rounds of sampling: round ``r`` calls ``timers[i]()`` once for every row ``i`` that
    still wants samples (``len(samples[i]) < rounds[i]``) and appends the result.

    The first round goes in row order, each later one in a fresh order (seeded: the
    same run to run), so that no row always runs right after the same other row: a
    thread pool still spinning after its library's call slows whatever runs next on a
    small machine (NumPy's OpenBLAS spins ~0.1 s), and the median of a row's samples
    should not carry its neighbour's pool.  A timer returning ``None`` gives no sample
    (its row failed; it may set its ``rounds[i]`` to 0 to stop).  ``on_sample(i)`` is
    called after each call (progress), ``before()`` before each (``settle``, say).
    """
    order = list(range(len(timers)))
    shuffle = random.Random(seed).shuffle
    for r in range(max(rounds, default=0)):
        if r:
            shuffle(order)
        for i in order:
            if len(samples[i]) < rounds[i]:
                if before is not None:
                    before()
                value = timers[i]()
                if value is not None:
                    samples[i].append(value)
                if on_sample is not None:
                    on_sample(i)


def median(samples: Sequence[float]) -> float | None:
    """The median of ``samples``, ``None`` when there are none."""
    return statistics.median(samples) if samples else None
