"""``fastnn bench`` with a log of every parallel numba region run through the free-core
check (``fastnn._backends.numba._on_free_cores``): the check's answer and the wall time of
each call and, for the logistic-regression descent (``optimize``), every thread's CPU time,
CPU and affinity and the host's per-CPU busy time, before and after the call.

    python scripts/numba_region_log.py LOG.json bench --full [fastnn bench options]

Written to catch numba's two-thread ``optimize`` running at one-thread speed in some full
runs: whether the check said "busy" (one thread on purpose), or the region ran with both
threads allowed and only one did the work, or both worked on one core.
"""

from __future__ import annotations

import json
import os
import sys
import time

import fastnn._backends.numba as numba_backend
from fastnn import _threads
from fastnn.__main__ import main

TICKS = os.sysconf("SC_CLK_TCK")
LOG: list[dict] = []
_checked = numba_backend._on_free_cores


def threads() -> dict:
    """Per thread of this process: state, CPU seconds, last CPU, affinity."""
    out = {}
    for tid in os.listdir(_threads._TASKS):
        try:
            with open(f"{_threads._TASKS}/{tid}/stat") as f:
                stat = f.read()
            affinity = sorted(os.sched_getaffinity(int(tid)))
        except OSError:  # the thread has ended
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[tid] = (fields[0], (int(fields[11]) + int(fields[12])) / TICKS, int(fields[36]), affinity)
    return out


def busy() -> dict:
    """Per CPU of the host: user + nice + system seconds so far."""
    with open("/proc/stat") as f:
        return {p[0]: sum(map(int, p[1:4])) / TICKS
                for p in (line.split() for line in f) if p[0].startswith("cpu") and p[0] != "cpu"}


def logged(kernel, *args):
    entry = {"t": time.time(), "kernel": kernel.__name__,
             "free": _threads.cores_free(numba_backend._POOL_THREADS)}
    detail = "logreg_descend" in kernel.__name__
    if detail:
        entry.update(pool=sorted(numba_backend._POOL_THREADS()), threads_before=threads(), cpus_before=busy())
    start = time.perf_counter()
    try:
        return _checked(kernel, *args)
    finally:
        entry["seconds"] = time.perf_counter() - start
        if detail:
            entry.update(threads_after=threads(), cpus_after=busy())
        LOG.append(entry)


if __name__ == "__main__":
    numba_backend._on_free_cores = logged
    try:
        code = main(sys.argv[2:])
    finally:
        with open(sys.argv[1], "w") as f:
            json.dump(LOG, f)
    sys.exit(code)
