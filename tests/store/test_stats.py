"""Per-volume statistics against numpy (the histogram path for small integers and the generic path)."""

from __future__ import annotations

import numpy as np
import pytest

from fastmed.store.stats import intensity_stats


@pytest.mark.parametrize(
    ("dtype", "lo", "hi"),
    [(np.int16, -1024, 3000), (np.uint16, 0, 4000), (np.uint8, 0, 256), (np.int8, -5, 6), (np.float32, -1, 1)],
)
@pytest.mark.parametrize("n", [1, 2, 7, 1000, 54321])
def test_stats_match_numpy(dtype: type, lo: int, hi: int, n: int) -> None:
    rng = np.random.default_rng(n)
    a = (rng.uniform(lo, hi, size=n) if dtype is np.float32 else rng.integers(lo, hi, size=n)).astype(dtype)
    s = intensity_stats(a)
    p = np.percentile(a, [0.5, 99.5])
    assert s["p0_5"] == pytest.approx(p[0]) and s["p99_5"] == pytest.approx(p[1])
    assert s["mean"] == pytest.approx(a.mean(dtype=np.float64))
    assert s["std"] == pytest.approx(a.std(dtype=np.float64), abs=1e-9)
    assert (s["min"], s["max"]) == (float(a.min()), float(a.max()))
