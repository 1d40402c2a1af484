"""The executor registry: what runs a :class:`~fastmed.transforms.plan.SamplePlan` batch, by device name.

``Compose`` plans (a pure function of ops, sample description, seed, epoch and index);
an executor runs the plans on a device. Executors live in :mod:`fastmed.backends`, which
registers them here when it is imported (``import fastmed`` imports it); this package
never imports the backends, so planning does not depend on any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from fastmed.errors import TransformError


class Executor(Protocol):
    """What ``Compose`` needs from a backend."""

    name: str

    def run(
        self,
        plans: Sequence[Any],
        samples: Sequence[Mapping[str, Any]],
        threads: int = 0,
        out: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Execute one plan per sample (as one batch) and return the arrays per sample.

        ``out`` maps array keys to preallocated batch arrays (N, C, *patch) that sample k's
        output is written into (slot k); see :mod:`fastmed.transforms.batch_out`.
        """
        ...


_FACTORIES: dict[str, Callable[[], Executor]] = {}
_INSTANCES: dict[str, Executor] = {}


def register_executor(name: str, factory: Callable[[], Executor]) -> None:
    """Register an executor factory under a device name (``"cpu"``, ``"cuda"`` ...); called once, lazily."""
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


def executor_factory(name: str) -> Callable[[], Executor] | None:
    """The factory registered under ``name`` (None if none)."""
    return _FACTORIES.get(name)


def available_executors() -> list[str]:
    """The registered device names."""
    return sorted(_FACTORIES)


def get_executor(name: str) -> Executor:
    """The executor for a device name (made on first use; a factory's ImportError says it is not installed)."""
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in _FACTORIES:
        raise TransformError(f"unknown backend {name!r} (known: {available_executors()})")
    try:
        inst = _FACTORIES[name]()
    except ImportError as exc:
        raise TransformError(f"backend {name!r} is not available: {exc}") from exc
    _INSTANCES[name] = inst
    return inst
