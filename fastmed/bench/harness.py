"""Timing: warm-up, repeated runs, median and IQR, ratios to fastmed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Impl:
    """One implementation of a case: fastmed itself or a peer.

    Parameters
    ----------
    name
        Display name, e.g. ``"fastmed"`` or ``"monai"``.
    fn
        Zero-argument callable doing one unit of the measured work.
    is_fastmed
        True for the subject the peers are compared against.
    floor
        True for a lower bound (bare codec, bare gather): reported, not "beaten".
    prepare
        Called before every call of ``fn``, untimed (e.g. a fresh copy of an archive).
    finish
        Optional: called once after the timed runs; returns extra figures of the row
        (e.g. peak memory, data-wait fraction) and releases what the row holds (workers).
    """

    name: str
    fn: Callable[[], Any]
    is_fastmed: bool = False
    floor: bool = False
    prepare: Callable[[], Any] | None = None
    finish: Callable[[], dict[str, float]] | None = None


@dataclass
class Case:
    """A unit of work measured for each implementation on the same data.

    ``items`` is how many things one call processes (slices, patches ...) for the rate column.
    ``missing`` names peers that are not installed (reported, never silently dropped).
    """

    name: str
    impls: list[Impl]
    items: int = 1
    unit: str = "item"
    threads: int | None = None
    missing: dict[str, str] = field(default_factory=dict)
    setup: Callable[[], None] | None = None


@dataclass
class CaseResult:
    """Timings of one implementation on one case."""

    case: str
    impl: str
    times_s: list[float]
    items: int
    unit: str
    threads: int | None
    is_fastmed: bool
    floor: bool
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        """Median seconds per call."""
        return float(np.median(self.times_s))

    @property
    def iqr_s(self) -> float:
        """Interquartile range of seconds per call."""
        q1, q3 = np.percentile(self.times_s, [25, 75])
        return float(q3 - q1)

    @property
    def rate(self) -> float:
        """Items per second at the median."""
        return self.items / self.median_s if self.median_s > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {
            "case": self.case,
            "impl": self.impl,
            "median_s": self.median_s,
            "iqr_s": self.iqr_s,
            "n": len(self.times_s),
            "items": self.items,
            "unit": self.unit,
            "rate_per_s": self.rate,
            "threads": self.threads,
            "is_fastmed": self.is_fastmed,
            "floor": self.floor,
            "times_s": self.times_s,
            "extra": self.extra,
        }


def measure(
    fn: Callable[[], Any],
    *,
    repeat: int,
    warmup: int,
    min_time_s: float = 0.0,
    prepare: Callable[[], Any] | None = None,
) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then time at least ``repeat`` calls.

    Calls continue past ``repeat`` until ``min_time_s`` of timed work has accumulated.
    ``prepare`` runs before every call, outside the timing.
    """
    for _ in range(warmup):
        if prepare is not None:
            prepare()
        fn()
    times: list[float] = []
    total = 0.0
    while len(times) < repeat or total < min_time_s:
        if prepare is not None:
            prepare()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
        if len(times) >= 10 * max(repeat, 1):
            break
    return times


def run_case(case: Case, *, repeat: int, warmup: int, min_time_s: float = 0.0) -> list[CaseResult]:
    """Measure every implementation of ``case`` in turn, in this process."""
    if case.setup is not None:
        case.setup()
    out = []
    for impl in case.impls:
        try:
            times = measure(impl.fn, repeat=repeat, warmup=warmup, min_time_s=min_time_s, prepare=impl.prepare)
        finally:
            extra = impl.finish() if impl.finish is not None else {}
        out.append(
            CaseResult(
                case.name, impl.name, times, case.items, case.unit, case.threads, impl.is_fastmed, impl.floor, extra
            )
        )
    return out


def ratios(results: list[CaseResult]) -> dict[str, float]:
    """Peer median / fastmed median for each non-fastmed implementation (>1: fastmed is faster)."""
    subject = next((r for r in results if r.is_fastmed), None)
    if subject is None:
        return {}
    return {r.impl: r.median_s / subject.median_s for r in results if not r.is_fastmed}
