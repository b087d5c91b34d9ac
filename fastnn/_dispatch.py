"""Backend registry and dispatch.

One backend is one module implementing the kernel protocol of :mod:`fastnn._backends`.
Modules are registered by import path and loaded on first use, so ``import fastnn``
imports none of them (numba alone costs ~0.5 s to import).

Resolution order for every op: the ``backend=`` argument, then the context set by
:func:`use_backend` (a :class:`contextvars.ContextVar`, so threads and asyncio tasks are
isolated; a new thread sees the process-wide default), then the process-wide default set
by :func:`set_backend`, which starts as ``$FASTNN_BACKEND`` (read once at import) or
``"auto"``.  ``"auto"`` is the fastest available compiled backend, else ``"numpy"``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fastnn._backends import KERNELS

__all__ = [
    "BackendInfo",
    "BackendUnavailableError",
    "backends",
    "get_backend",
    "register_backend",
    "resolve",
    "set_backend",
    "use_backend",
]

AUTO = "auto"
#: The built-in backends, by import path, in the order ``"auto"`` does not care about.
_BUILTIN = {
    "python": "fastnn._backends.python",
    "numpy": "fastnn._backends.numpy",
    "numba": "fastnn._backends.numba",
    "cython": "fastnn._backends.cython",
}
#: What ``"auto"`` tries, fastest first; ``"numpy"`` is the fallback that never fails.
_AUTO_ORDER = ("cython", "numba", "numpy")


class BackendUnavailableError(ImportError):
    """A known backend cannot be used here; ``reason`` is the real exception text."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"fastnn backend {name!r} is not available: {reason}", name=name)
        self.backend = name
        self.reason = reason


@dataclass(frozen=True)
class BackendInfo(Mapping):
    """One row of :func:`backends`; readable as attributes or as a mapping."""

    name: str
    available: bool
    reason: str | None = None
    version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)


_registry: dict[str, str | object] = dict(_BUILTIN)  # name -> import path or module
_loaded: dict[str, object] = {}  # name (and "auto") -> loaded module: the hot-path cache
_failures: dict[str, str] = {}  # name -> reason it could not be loaded


def _known_names() -> list[str]:
    return [AUTO, *_registry]


def _check_name(name: object) -> str:
    if not isinstance(name, str) or (name != AUTO and name not in _registry):
        known = ", ".join(repr(n) for n in _known_names())
        source = " (from $FASTNN_BACKEND)" if name is _default and name == _ENV_BACKEND else ""
        raise ValueError(f"unknown fastnn backend {name!r}{source}; known backends: {known}")
    return name


#: Read once at import, checked at first use: a bad value must not make ``import fastnn``
#: (and so ``fastnn info``, the tool to diagnose it) fail.
_ENV_BACKEND = os.environ.get("FASTNN_BACKEND", AUTO) or AUTO
_default: str = _ENV_BACKEND
_context: ContextVar[str | None] = ContextVar("fastnn_backend", default=None)


def default_problem() -> str | None:
    """Why the process-wide default backend cannot be used, or None (for ``fastnn info``)."""
    try:
        resolve(_default)
    except (ValueError, BackendUnavailableError) as exc:
        return str(exc)
    return None


def _load(name: str) -> object:
    """Import (once) and return the backend module ``name``, or raise why not."""
    if name in _failures:
        raise BackendUnavailableError(name, _failures[name])
    target = _registry[name]
    if not isinstance(target, str):
        module = target
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:  # any import failure makes the backend unusable
            reason = f"{type(exc).__name__}: {exc}"
            _failures[name] = reason
            raise BackendUnavailableError(name, reason) from exc
    _loaded[name] = module
    return module


def _resolve_auto() -> object:
    for name in _AUTO_ORDER:
        try:
            module = _loaded.get(name) or _load(name)
        except BackendUnavailableError:
            continue
        _loaded[AUTO] = module
        return module
    raise AssertionError("the numpy backend always loads")  # pragma: no cover


def resolve(backend: str | None = None) -> Any:
    """The backend module in force: ``backend``, else the context, else the default."""
    name = backend if backend is not None else (_context.get() or _default)
    module = _loaded.get(name)
    if module is not None:
        return module
    _check_name(name)
    return _resolve_auto() if name == AUTO else _load(name)


def resolved_name(backend: str | None = None) -> str:
    """The concrete backend name ``backend`` resolves to (``"auto"`` made concrete)."""
    return resolve(backend).NAME


def get_backend() -> str:
    """The backend name in force here (the context's, else the process-wide default)."""
    return _context.get() or _default


def set_backend(name: str) -> None:
    """Set the process-wide default backend; a known but unusable one raises at once."""
    _check_name(name)
    if name != AUTO:
        resolve(name)
    global _default
    _default = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Use backend ``name`` inside the ``with`` block, in this thread or task only.

    >>> import fastnn
    >>> with fastnn.use_backend("numpy"):
    ...     fastnn.get_backend()
    'numpy'
    """
    _check_name(name)
    if name != AUTO:
        resolve(name)
    token = _context.set(name)
    try:
        yield
    finally:
        _context.reset(token)


def register_backend(name: str, module: ModuleType | object) -> None:
    """Add a third-party backend implementing the kernel protocol of :mod:`fastnn._backends`.

    ``module`` is a module (or any object) with every kernel in ``fastnn._backends.KERNELS``
    as a callable attribute; it is checked here, not at first use.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"backend name must be an identifier string, got {name!r}")
    if name == AUTO or name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in backend name and cannot be replaced")
    missing = [k for k in KERNELS if not callable(getattr(module, k, None))]
    if missing:
        raise TypeError(
            f"backend {name!r} does not implement the fastnn kernel protocol: "
            f"missing callables {', '.join(missing)}"
        )
    if not hasattr(module, "NAME"):
        try:
            module.NAME = name  # type: ignore[attr-defined]
        except AttributeError as exc:
            raise TypeError(f"backend {name!r} needs a NAME attribute") from exc
    _registry[name] = module
    _loaded[name] = module
    _failures.pop(name, None)


def backends() -> list[BackendInfo]:
    """One record per registered backend: name, available, reason, version, details.

    Loads every backend to find out (this is the one call that does).
    """
    records = []
    for name in _registry:
        try:
            module = resolve(name)
        except BackendUnavailableError as exc:
            records.append(BackendInfo(name, False, reason=exc.reason))
            continue
        version = getattr(module, "VERSION", None)
        details_fn = getattr(module, "details", None)
        details = dict(details_fn()) if callable(details_fn) else {}
        records.append(BackendInfo(name, True, version=version, details=details))
    return records
