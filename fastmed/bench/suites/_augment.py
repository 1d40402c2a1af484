"""Shared builder of the augmentation suites: one Case per thread count, peers imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from fastmed.bench.harness import Case, Impl
from fastmed.bench.peers.spec import AugSpec


@dataclass(frozen=True)
class Entry:
    """One row of a suite: a display name and ``module:function`` of its factory.

    The factory is ``make(vol, spec, threads, seed=0) -> callable`` and raises
    ``ImportError`` with a reason when its library is not usable here.
    """

    name: str
    factory: str
    is_fastmed: bool = False
    floor: bool = False
    probe: bool = False  # call once at build time; a failure is recorded as missing


def _factory(path: str) -> Callable[..., Callable[[], Any]]:
    mod, fn = path.split(":")
    return getattr(importlib.import_module(mod), fn)


def build_impl(entry: Entry, vol: npt.NDArray[Any], spec: AugSpec, threads: int) -> Impl:
    """Build one implementation; ``ImportError`` / probe failure propagate as ``ImportError``."""
    fn = _factory(entry.factory)(vol, spec, threads)
    if entry.probe:
        try:
            fn()
        except ImportError:
            raise
        except Exception as exc:  # an engine still in development may refuse this input
            raise ImportError(f"failed on this input: {type(exc).__name__}: {exc}") from exc
    return Impl(entry.name, fn, is_fastmed=entry.is_fastmed, floor=entry.floor)


def build_cases(
    case_name: str,
    vol: npt.NDArray[Any],
    spec: AugSpec,
    entries: Sequence[Entry],
    threads: Sequence[int],
    not_run: dict[str, str] | None = None,
) -> list[Case]:
    """One Case per thread count with every entry that builds; the rest go to ``missing``."""
    cases = []
    for t in threads:
        impls: list[Impl] = []
        missing = dict(not_run or {})
        for entry in entries:
            try:
                impls.append(build_impl(entry, vol, spec, t))
            except ImportError as exc:
                missing[entry.name] = str(exc) or f"{type(exc).__name__} importing {entry.factory}"
        cases.append(Case(case_name, impls, items=1, unit="patch", threads=t, missing=missing))
    return cases
