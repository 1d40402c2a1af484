"""pytest-benchmark micro-benchmarks of the native RNG fills (run: pytest bench/ --benchmark-only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fastmed._native import core

N = 1 << 22


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("fill", ["fill_uniform", "fill_normal"])
def test_fill(benchmark: Any, fill: str, threads: int) -> None:
    out = np.empty(N, np.float32)
    benchmark(getattr(core, fill), out, 0, 0, 0, threads)
    assert np.isfinite(out).all()
