"""Backends that execute fused plans, registered by device name in :mod:`fastmed.transforms.executors`.

A backend takes :class:`fastmed.transforms.plan.SamplePlan` objects and the samples'
source arrays and returns the output arrays (or writes them into ``out=`` batch arrays).
Importing this package registers every backend: ``cpu`` and ``cpu-reference`` at once,
``cuda`` and ``dali`` as factories that import their module on first use (so CuPy and
DALI load only when asked for). ``import fastmed`` imports this package; planning code in
``fastmed.transforms`` only sees the registry, never this package.

``register_backend``, ``get_backend`` and ``available_backends`` are the registry's
functions under their older names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fastmed.transforms.executors import Executor as Backend
from fastmed.transforms.executors import available_executors as available_backends
from fastmed.transforms.executors import executor_factory
from fastmed.transforms.executors import get_executor as get_backend
from fastmed.transforms.executors import register_executor as register_backend

__all__ = ["Backend", "available_backends", "get_backend", "register_backend"]


def _lazy(module: str, name: str) -> Callable[[], Backend]:
    """A factory that imports ``module`` (which registers its real factories) on first use."""

    def make() -> Backend:
        importlib.import_module(module)
        real = executor_factory(name)
        if real is None or real is make:  # pragma: no cover - a module that forgot to register
            raise ImportError(f"{module} did not register backend {name!r}")
        return real()

    return make


for _name, _module in (
    ("cuda", "fastmed.backends.cuda"),
    ("dali", "fastmed.backends.dali"),
    ("dali-gpu", "fastmed.backends.dali"),
):
    register_backend(_name, _lazy(_module, _name))

from fastmed.backends import cpu as _cpu  # noqa: E402,F401  (registers cpu and cpu-reference)
