"""pytest-benchmark: host planning of the R3D preset (param draw + compile + source bbox), per sample.

Run: ``PYTHONPATH=. python -m pytest bench/test_micro_plan.py --benchmark-only``. Planning is the
host work a loader thread does under the GIL before the native kernel runs: drawing every op's
params from the Philox streams, fusing them into a :class:`~fastmed.transforms.plan.SamplePlan`
and (for lazy volumes) the source footprint box. No voxel is read or resampled.

Cases: an in-memory array (160^3 int16) and a lazy 320x512x512 volume (per-volume statistics
supplied, so the window is planned, not read); ``Compose.plan`` one sample at a time and
``Compose.plan_batch`` over ``BATCH`` samples. Divide a batch row's time by ``BATCH`` for the
per-sample figure (the goal of issue 8 is <= 0.2 ms per R3D sample).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fastmed.transforms.presets import preset

BATCH = 8


class _LazyCT:
    """A lazy 320x512x512 int16 CT volume (shape, spacing and stats known, nothing to read here)."""

    def __init__(self) -> None:
        self.shape = (320, 512, 512)
        self.dtype = np.dtype(np.int16)
        self.spacing = (1.0, 0.8, 0.8)
        self.stats = {"p0_5": -1000.0, "p99_5": 1500.0, "mean": -500.0, "std": 400.0, "min": -1024.0, "max": 2000.0}

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[np.int16]:
        return np.zeros(tuple(b - a for a, b in zip(lo, hi, strict=True)), np.int16)


def _sample(kind: str) -> dict[str, Any]:
    if kind == "lazy":
        return {"image": _LazyCT()}
    return {"image": np.zeros((1, 160, 160, 160), np.int16)}


@pytest.mark.parametrize("kind", ["array", "lazy"])
def test_plan_one(benchmark: Any, kind: str) -> None:
    """``Compose.plan`` of one R3D sample (128^3 patch)."""
    aug = preset("r3d")
    sample = _sample(kind)
    counter = iter(range(1 << 30))
    plan = benchmark(lambda: aug.plan(sample, seed=0, index=next(counter)))
    assert plan.spatial.out_shape == (128, 128, 128)


@pytest.mark.parametrize("kind", ["array", "lazy"])
def test_plan_batch(benchmark: Any, kind: str) -> None:
    """``Compose.plan_batch`` of ``BATCH`` R3D samples (one vectorized draw and compile)."""
    aug = preset("r3d")
    samples = [_sample(kind) for _ in range(BATCH)]
    counter = iter(range(1 << 30))

    def run() -> list[Any]:
        base = next(counter) * BATCH
        return aug.plan_batch(samples, seed=0, indices=range(base, base + BATCH))

    plans = benchmark(run)
    assert len(plans) == BATCH
