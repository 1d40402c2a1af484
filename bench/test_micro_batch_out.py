"""pytest-benchmark: ``Compose.batch(out=)`` into a preallocated batch vs the list path + ``np.stack``.

Run: ``PYTHONPATH=. python -m pytest bench/test_micro_batch_out.py --benchmark-only``. Both paths
draw, compile and resample the same batch; the difference is the stacking copy (and the
per-sample output allocations) that ``out=`` removes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import fastmed.transforms as T

N, SRC, PATCH = 8, (1, 64, 96, 96), (48, 80, 80)


def _setup() -> tuple[T.Compose, list[dict[str, Any]]]:
    rng = np.random.default_rng(0)
    samples = [{"image": rng.integers(-1000, 1000, SRC).astype(np.int16)} for _ in range(N)]
    aug = T.Compose([T.RandomCrop(PATCH), T.RandomFlip(), T.Window(-500, 500)], threads=2)
    return aug, samples


def _stacked(aug: T.Compose, samples: list[dict[str, Any]]) -> np.ndarray:
    outs = aug.batch(samples, seed=1)
    assert isinstance(outs, list)
    return np.stack([o["image"] for o in outs])


def test_batch_list_then_np_stack(benchmark: Any) -> None:
    aug, samples = _setup()

    got = benchmark(_stacked, aug, samples)
    assert got.shape == (N, 1, *PATCH)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_batch_out(benchmark: Any, lib: str) -> None:
    aug, samples = _setup()
    shape = (N, 1, *PATCH)
    out = np.empty(shape, np.float32) if lib == "numpy" else torch.empty(shape, dtype=torch.float32)
    benchmark(lambda: aug.batch(samples, seed=1, out=out))
    np.testing.assert_array_equal(np.asarray(out), _stacked(aug, samples))


def test_batch_stack_true(benchmark: Any) -> None:
    """``stack=True`` on the CPU backends now allocates the batch and writes into it (no ``np.stack``)."""
    aug, samples = _setup()
    got = benchmark(lambda: aug.batch(samples, seed=1, stack=True))
    np.testing.assert_array_equal(got["image"], _stacked(aug, samples))
