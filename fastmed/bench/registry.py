"""The registry of benchmark suites: name -> a function building its cases."""

from __future__ import annotations

from collections.abc import Callable

from fastmed.bench.harness import Case

SuiteFn = Callable[..., list[Case]]
SUITES: dict[str, SuiteFn] = {}


def register_suite(name: str) -> Callable[[SuiteFn], SuiteFn]:
    """Register a suite builder under ``name``; it takes ``size`` and ``threads`` keywords."""

    def deco(fn: SuiteFn) -> SuiteFn:
        if name in SUITES:
            raise ValueError(f"benchmark suite {name!r} registered twice")
        SUITES[name] = fn
        return fn

    return deco


def get_suite(name: str) -> SuiteFn:
    """Return the suite registered as ``name`` (importing the built-in suites first)."""
    import fastmed.bench.suites  # noqa: F401  (registers built-ins)

    try:
        return SUITES[name]
    except KeyError:
        raise KeyError(f"unknown benchmark suite {name!r}; known: {sorted(SUITES)}") from None
