"""Backends that execute fused plans, looked up by device name.

A backend takes :class:`fastmed.transforms.plan.SamplePlan` objects and the samples'
source arrays and returns the output arrays. Known backends are imported lazily on
first use, so ``cuda`` and ``dali`` can register without touching any op, and
``Compose`` never imports a backend it does not use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError


class Backend(Protocol):
    """What ``Compose`` needs from a backend."""

    name: str

    def run(
        self,
        plans: Sequence[Any],
        samples: Sequence[Mapping[str, Any]],
        threads: int = 0,
    ) -> list[dict[str, npt.NDArray[np.generic]]]:
        """Execute one plan per sample (as one batch) and return the arrays per sample."""
        ...


_FACTORIES: dict[str, Callable[[], Backend]] = {}
_INSTANCES: dict[str, Backend] = {}
# Modules that register a backend when imported (first use only).
_LAZY: dict[str, str] = {
    "cpu": "fastmed.backends.cpu",
    "cpu-reference": "fastmed.backends.cpu",
    "cuda": "fastmed.backends.cuda",
    "dali": "fastmed.backends.dali",
    "dali-gpu": "fastmed.backends.dali",
}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Register a backend factory under a device name (``"cpu"``, ``"cuda"`` ...)."""
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


def available_backends() -> list[str]:
    """Names that are registered or can be imported."""
    return sorted(set(_FACTORIES) | set(_LAZY))


def get_backend(name: str) -> Backend:
    """Return the backend for a device name, importing its module on first use."""
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in _FACTORIES and name in _LAZY:
        try:
            importlib.import_module(_LAZY[name])
        except ImportError as exc:
            raise TransformError(f"backend {name!r} is not available: {exc}") from exc
    if name not in _FACTORIES:
        raise TransformError(f"unknown backend {name!r} (known: {available_backends()})")
    inst = _FACTORIES[name]()
    _INSTANCES[name] = inst
    return inst
