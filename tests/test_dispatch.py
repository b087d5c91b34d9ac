"""Dispatch rules: precedence, isolation across threads and asyncio tasks, errors, registry,
and ``import fastnn`` staying light."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import types

import numpy as np
import pytest
from conftest import BACKENDS, IN_CI, require_backend

import fastnn
from fastnn import _dispatch
from fastnn._backends import KERNELS
from fastnn._backends import numpy as numpy_backend


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "FASTNN_BACKEND"}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environ)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so registered spies do not outlive the test."""
    monkeypatch.setattr(_dispatch, "_registry", dict(_dispatch._registry))
    monkeypatch.setattr(_dispatch, "_loaded", dict(_dispatch._loaded))
    monkeypatch.setattr(_dispatch, "_failures", dict(_dispatch._failures))
    monkeypatch.setattr(_dispatch, "_default", _dispatch._default)
    return _dispatch


def make_spy(name: str, calls: list) -> types.SimpleNamespace:
    """A backend that records its name on every kernel call and computes with numpy's kernels."""

    def wrap(kernel):
        def spy(*args):
            calls.append(name)
            return getattr(numpy_backend, kernel)(*args)

        return spy

    return types.SimpleNamespace(NAME=name, VERSION="0", **{k: wrap(k) for k in KERNELS})


@pytest.fixture
def spies(registry):
    calls: list[str] = []
    for name in ("spy_a", "spy_b", "spy_c"):
        fastnn.register_backend(name, make_spy(name, calls))
    return calls


def test_import_fastnn_loads_no_backend():
    result = run_python(
        """
        import sys, fastnn
        heavy = ("numba", "llvmlite", "scipy", "sklearn", "torch", "matplotlib")
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy
                     or m.startswith("fastnn._backends.") or m.startswith("fastnn._cython")))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_default_comes_from_environment():
    result = run_python("import fastnn; print(fastnn.get_backend())", FASTNN_BACKEND="numpy")
    assert result.stdout.strip() == "numpy", result.stderr
    assert run_python("import fastnn; print(fastnn.get_backend())").stdout.strip() == "auto"
    # a bad value does not break the import (nor `fastnn info`): the first use says what is wrong
    assert run_python("import fastnn", FASTNN_BACKEND="fortran").returncode == 0
    bad = run_python("import fastnn; fastnn.sigmoid(0.0)", FASTNN_BACKEND="fortran")
    assert bad.returncode != 0 and "fortran" in bad.stderr and "'numba'" in bad.stderr
    assert "FASTNN_BACKEND" in bad.stderr


def test_precedence_argument_then_context_then_default(spies):
    X, w = np.ones((2, 3)), np.ones((2, 1))
    fastnn.set_backend("spy_a")
    fastnn.logreg.forward(w, 0.0, X)
    with fastnn.use_backend("spy_b"):
        assert fastnn.get_backend() == "spy_b"
        fastnn.logreg.forward(w, 0.0, X)
        fastnn.logreg.forward(w, 0.0, X, backend="spy_c")
    fastnn.logreg.forward(w, 0.0, X)
    assert spies == ["spy_a", "spy_b", "spy_c", "spy_a"]
    assert fastnn.get_backend() == "spy_a"


def test_use_backend_nests_and_restores(spies):
    fastnn.set_backend("spy_a")
    with fastnn.use_backend("spy_b"):
        with fastnn.use_backend("spy_c"):
            assert fastnn.get_backend() == "spy_c"
        assert fastnn.get_backend() == "spy_b"
        with pytest.raises(RuntimeError), fastnn.use_backend("spy_c"):
            raise RuntimeError("unwinds the context")
        assert fastnn.get_backend() == "spy_b"
    assert fastnn.get_backend() == "spy_a"


def test_a_new_thread_sees_the_global_default(spies):
    fastnn.set_backend("spy_a")
    seen = {}

    def worker(key, name):
        seen[key + "_before"] = fastnn.get_backend()
        with fastnn.use_backend(name):
            barrier.wait()  # both threads are inside their contexts at once
            seen[key] = fastnn.get_backend()
            fastnn.sigmoid(np.zeros(3))

    barrier = threading.Barrier(2)
    with fastnn.use_backend("spy_c"):
        threads = [threading.Thread(target=worker, args=("t1", "spy_b")), threading.Thread(target=worker, args=("t2", "spy_c"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert fastnn.get_backend() == "spy_c"
    assert seen == {"t1_before": "spy_a", "t2_before": "spy_a", "t1": "spy_b", "t2": "spy_c"}
    assert sorted(spies) == ["spy_b", "spy_c"]


def test_asyncio_tasks_are_isolated(spies):
    async def task(name, log):
        with fastnn.use_backend(name):
            for _ in range(3):
                await asyncio.sleep(0)  # interleave with the other task
                log.append((name, fastnn.get_backend()))

    async def main():
        log = []
        await asyncio.gather(task("spy_a", log), task("spy_b", log))
        return log

    log = asyncio.run(main())
    assert len(log) == 6 and all(name == seen for name, seen in log)
    assert {name for name, _ in log} == {"spy_a", "spy_b"}


@pytest.mark.parametrize("call", ["set_backend", "use_backend", "argument"])
def test_unknown_backend_lists_the_known_ones(call):
    with pytest.raises(ValueError, match=r"unknown fastnn backend 'fortran'.*'auto', 'python', 'numpy', 'numba', 'cython'"):
        if call == "set_backend":
            fastnn.set_backend("fortran")
        elif call == "use_backend":
            with fastnn.use_backend("fortran"):
                pass
        else:
            fastnn.sigmoid(0.0, backend="fortran")


def test_unavailable_backend_raises_with_the_reason():
    result = run_python(
        """
        import sys
        sys.modules["fastnn._cython"] = None  # as if the extensions had not been built
        import fastnn
        try:
            fastnn.set_backend("cython")
        except fastnn.BackendUnavailableError as exc:
            assert isinstance(exc, ImportError)
            print("error:", exc.reason)
        info = {r.name: r for r in fastnn.backends()}
        print("available:", info["cython"].available, "|", info["cython"]["reason"])
        print("auto:", fastnn._dispatch.resolved_name("auto"))
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("error: ") and "fastnn._cython" in lines[0]
    assert lines[1].startswith("available: False | ") and "fastnn._cython" in lines[1]
    assert lines[2] == "auto: numba"


def test_the_numba_backend_stands_alone_without_the_cython_extensions():
    """numba and NumPy only: with the Cython extensions unimportable the numba backend is
    complete (a training step, a propagate, a fit) and gives the numpy backend's answers."""
    require_backend("numba")  # fails in CI, skips (saying why) elsewhere
    result = run_python(
        """
        import sys
        sys.modules["fastnn._cython"] = None  # as if the extensions had not been built
        import numpy as np
        import fastnn
        from fastnn.datasets import load_planar
        X, Y = load_planar()
        answers, p0 = {}, fastnn.mlp.initialize_parameters(2, 4, 1)
        for name in ("numpy", "numba"):
            p = {k: v.copy() for k, v in p0.items()}
            cost = fastnn.mlp.train_step(p, X, Y, backend=name)
            grads, c2 = fastnn.logreg.propagate(np.full((2, 1), 0.1), 0.5, X, Y, backend=name)
            fit = fastnn.mlp.nn_model(X, Y, 4, num_iterations=50, random_state=3, backend=name)
            answers[name] = (cost, p["W1"], grads["dw"], c2, fit["W1"])
        for a, b in zip(answers["numpy"], answers["numba"]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        print("loaded:", sorted(m for m in sys.modules if m.startswith("fastnn._cython") and sys.modules[m]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"


def test_register_backend_checks_the_protocol(registry):
    incomplete = types.SimpleNamespace(NAME="half", sigmoid=np.tanh)
    with pytest.raises(TypeError, match="missing callables dot, logreg_forward"):
        fastnn.register_backend("half", incomplete)
    with pytest.raises(ValueError, match="built-in"):
        fastnn.register_backend("numpy", numpy_backend)
    with pytest.raises(ValueError, match="identifier"):
        fastnn.register_backend("no spaces", numpy_backend)


def test_registered_backend_is_usable_and_listed(registry):
    calls = []
    fastnn.register_backend("mine", make_spy("mine", calls))
    np.testing.assert_allclose(fastnn.sigmoid(np.array([0.0]), backend="mine"), [0.5])
    assert calls == ["mine"]
    assert "mine" in [r.name for r in fastnn.backends()]
    with pytest.raises(ValueError, match="'mine'"):
        fastnn.set_backend("nope")


def test_backends_reports_every_backend_with_details():
    records = {r.name: r for r in fastnn.backends()}
    assert set(BACKENDS) <= set(records)
    assert records["numpy"].available and records["python"].available
    for name, record in records.items():
        assert record.available == (record.reason is None)
        assert dict(record)["name"] == name
    if IN_CI:
        assert all(records[name].available for name in BACKENDS), {n: r.reason for n, r in records.items()}
    if records["numba"].available:
        assert "threading_layer" in records["numba"].details
    if records["cython"].available:
        details = records["cython"].details
        assert {"cflags", "openmp", "simd"} <= set(details), details


def test_auto_prefers_a_compiled_backend():
    names = {r.name for r in fastnn.backends() if r.available}
    expected = "cython" if "cython" in names else "numba" if "numba" in names else "numpy"
    assert _dispatch.resolved_name("auto") == expected
