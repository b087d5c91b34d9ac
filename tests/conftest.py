"""Shared fixtures: every backend, every dtype.

In CI (``CI=true``) an unavailable backend FAILS the run; elsewhere its tests are skipped
with the real reason (e.g. the Cython extension was not built in this checkout).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import fastnn
from fastnn._dispatch import resolve

# hypothesis: bounded in CI ("ci", the default), thorough on request ("long"):
#   HYPOTHESIS_PROFILE=long pytest tests/test_properties.py tests/fuzz_api.py
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=_QUIET, derandomize=True)
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
BACKENDS = ("python", "numpy", "numba", "cython")
FAST_BACKENDS = ("numpy", "numba", "cython")
COMPILED_BACKENDS = ("numba", "cython")
DTYPES = (np.float64, np.float32)


def require_backend(name: str) -> str:
    try:
        resolve(name)
    except fastnn.BackendUnavailableError as exc:
        if IN_CI:
            pytest.fail(f"backend {name!r} must be available in CI: {exc.reason}")
        pytest.skip(f"backend {name!r} is not available outside CI here: {exc.reason}")
    return name


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Every backend, the python loops included (keep sizes small)."""
    return require_backend(request.param)


@pytest.fixture(params=FAST_BACKENDS)
def fast_backend(request) -> str:
    """The vectorized and compiled backends (for sizes the loops would take minutes on)."""
    return require_backend(request.param)


@pytest.fixture(params=COMPILED_BACKENDS)
def compiled_backend(request) -> str:
    return require_backend(request.param)


@contextlib.contextmanager
def kernel_threads(n: int):
    """fastnn's kernels on ``n`` threads inside the block, the setting restored after."""
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(n)
    try:
        yield
    finally:
        fastnn.set_num_threads(before)


@pytest.fixture
def two_kernel_threads():
    """fastnn's kernels may use 2 threads (restored afterwards): the threaded paths run."""
    with kernel_threads(2):
        yield


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


#: Everyday-tier tests whose reference-backend variants are long (the loops and NumPy's
#: small calls are slow by nature): those variants run in the slow tier, the compiled
#: backends' in both.
_SLOW_VARIANTS = (
    "test_resources.py::test_many_small_calls_do_not_grow_memory[python]",
    "test_resources.py::test_many_small_calls_do_not_grow_memory[numpy]",
    "test_resources.py::test_long_fits_do_not_grow_memory[numpy]",
    "test_estimators.py::test_check_estimator[numpy-TwoLayerClassifier]",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.endswith(_SLOW_VARIANTS):
            item.add_marker(pytest.mark.slow)
