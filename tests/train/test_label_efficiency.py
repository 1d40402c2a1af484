"""Label-efficiency subsets (nested, keyed) and plot."""

from __future__ import annotations

import numpy as np
import pytest

from fastmed.train.metrics import label_subsets, save_label_efficiency_plot


def test_subsets_are_nested_sized_and_keyed() -> None:
    subs = label_subsets(500, (0.01, 0.1, 1.0), seed=3)
    assert [len(subs[f]) for f in (0.01, 0.1, 1.0)] == [5, 50, 500]
    assert set(subs[0.01]) <= set(subs[0.1]) <= set(subs[1.0]) == set(range(500))
    again = label_subsets(500, (0.1,), seed=3)
    assert np.array_equal(again[0.1], subs[0.1])
    assert not np.array_equal(label_subsets(500, (0.1,), seed=4)[0.1], subs[0.1])


def test_subset_limits() -> None:
    assert len(label_subsets(20, (0.01,), seed=0, min_count=4)[0.01]) == 4
    with pytest.raises(ValueError):
        label_subsets(20, (0.0,), seed=0)
    with pytest.raises(ValueError):
        label_subsets(0, (0.5,), seed=0)


def test_plot_png(tmp_path) -> None:
    out = save_label_efficiency_plot([1.0, 0.01, 0.1], [0.95, 0.7, 0.85], tmp_path / "le.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        save_label_efficiency_plot([0.1], [0.5, 0.6], tmp_path / "x.png")
