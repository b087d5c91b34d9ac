"""The host: what it is (CPU, SIMD, cores, BLAS, versions, fastnn's backends, load) and what
it can do at best (peak FLOP/s and memory bandwidth, measured here with NumPy)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import numpy as np

from fastnn.bench.timing import time_batch

__all__ = [
    "blas_info",
    "cpu_info",
    "describe_host",
    "load_average",
    "measure_peaks",
    "simd_level",
    "versions",
]

#: Distributions whose versions the header reports (read from metadata: nothing is imported).
VERSIONED = (
    "numpy",
    "numba",
    "scipy",
    "threadpoolctl",
    "torch",
    "jax",
    "scikit-learn",
    "matplotlib",
    "Cython",
)

#: x86 SIMD extensions by level, best first, as /proc/cpuinfo names them.
_X86_LEVELS = (
    ("AVX-512", "avx512f"),
    ("AVX2", "avx2"),
    ("AVX", "avx"),
    ("SSE4.2", "sse4_2"),
    ("SSE2", "sse2"),
)
_ARM_LEVELS = (("SVE", "sve"), ("NEON", "asimd"))


def _cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical CPU (empty where there is no such file)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return []
    cpus = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            entry[key.strip()] = value.strip()
        cpus.append(entry)
    return cpus


def _flags(cpus: list[dict[str, str]]) -> set[str]:
    if not cpus:
        return set()
    return set((cpus[0].get("flags") or cpus[0].get("Features") or "").split())


def simd_level(flags: set[str]) -> str:
    """The best SIMD level among CPU ``flags`` (x86 and Arm names), or ``"unknown"``."""
    for label, flag in _X86_LEVELS + _ARM_LEVELS:
        if flag in flags:
            return label
    return "unknown"


def _numpy_simd() -> str:
    """SIMD extensions NumPy found at run time (a fallback where /proc/cpuinfo is absent)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - private location changed
        return "unknown"
    for label, flag in (("AVX-512", "AVX512F"), ("AVX2", "AVX2"), ("AVX", "AVX"), ("NEON", "ASIMD")):
        if features.get(flag):
            return label
    return "unknown"


def cpu_info() -> dict:
    """CPU model, SIMD level and extensions, logical/physical/usable core counts."""
    cpus = _cpuinfo()
    flags = _flags(cpus)
    model = (cpus[0].get("model name") if cpus else None) or platform.processor() or platform.machine()
    physical = {(c.get("physical id"), c.get("core id")) for c in cpus if "core id" in c}
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    simd = simd_level(flags) if flags else _numpy_simd()
    extensions = sorted(f for f in flags if f.startswith(("avx", "sse", "fma", "amx", "asimd", "sve")))
    return {
        "model": model,
        "machine": platform.machine(),
        "simd": simd,
        "simd_extensions": extensions,
        "logical_cores": os.cpu_count(),
        "physical_cores": len(physical) or None,
        "usable_cores": usable,
    }


def blas_info() -> list[dict]:
    """The BLAS (and OpenMP) libraries loaded in this process and their thread counts."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture")
    return [{k: info.get(k) for k in (*keys, "filepath")} for info in threadpool_info()]


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (runnable processes): how busy the host is."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return None


def versions() -> dict[str, str | None]:
    """Python and the installed versions of the libraries that matter, without importing them."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def describe_host() -> dict:
    """Everything the benchmark header reports about the host (loads every fastnn backend)."""
    import fastnn

    backends = [dict(b) for b in fastnn.backends()]  # name, available, reason, version, details
    return {
        "cpu": cpu_info(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "versions": versions(),
        "fastnn": {"version": fastnn.__version__, "threads": fastnn.get_num_threads(), "backends": backends},
        "blas": blas_info(),
        "load_average": load_average(),
    }


def measure_peaks(repeat: int = 3, gemm_n: int = 2048, copy_mib: int = 256) -> dict:
    """The host's measured peaks: best of ``repeat`` runs.

    FLOP/s from ``np.dot`` of two ``gemm_n`` square matrices (``2 n^3`` flops), float64
    and float32, with the BLAS's thread count at the time (recorded); bandwidth from
    ``np.copyto`` of a ``copy_mib`` MiB array (read plus write, ``2 x`` its size per copy;
    one thread).
    """
    blas_threads = max([lib["num_threads"] for lib in blas_info() if lib["user_api"] == "blas"] or [1])
    peaks: dict = {"gemm_n": gemm_n, "copy_mib": copy_mib, "repeat": repeat, "blas_threads": blas_threads}
    for dtype in ("float64", "float32"):
        peaks[f"flops_{dtype}"] = _gemm_flops(gemm_n, dtype, repeat)
    src = np.ones(copy_mib * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # warm-up: pages touched
    best = min(time_batch(lambda: np.copyto(dst, src), 1) for _ in range(repeat))
    peaks["bandwidth"] = 2.0 * src.nbytes / best
    return peaks


def _gemm_flops(n: int, dtype: str, repeat: int) -> float:
    rng = np.random.RandomState(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty_like(A)
    np.dot(A, B, out=C)  # warm-up: BLAS threads started, pages touched
    best = min(time_batch(lambda: np.dot(A, B, out=C), 1) for _ in range(repeat))
    return 2.0 * n**3 / best
