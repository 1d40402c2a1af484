"""Label-efficiency curve: nested labelled subsets (e.g. 1 %, 10 %, 100 %) and the plot of a metric over them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fastmed.rng import KeyedRNG
from fastmed.train.metrics._figure import png_axes

LABEL_SUBSET_STREAM = 0x4C424C00
"""RNG stream of label subsets ("LBL\\0")."""


def label_subsets(
    n: int, fractions: Sequence[float], seed: int, min_count: int = 1
) -> dict[float, npt.NDArray[np.int64]]:
    """Nested subsets of ``range(n)``: the subset of a smaller fraction is inside every larger one.

    Parameters
    ----------
    n
        Number of labelled training samples.
    fractions
        Fractions in (0, 1] (e.g. ``(0.01, 0.1, 1.0)``).
    seed
        Seed of the keyed RNG (the same seed gives the same subsets).
    min_count
        Smallest subset size (``ceil(fraction * n)`` is raised to it, capped at ``n``).

    Returns
    -------
    dict
        ``fraction -> sorted sample indices``.
    """
    if n < 1:
        raise ValueError(f"need at least one sample, got {n}")
    if any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {list(fractions)}")
    order = np.argsort(np.asarray(KeyedRNG(seed, 0, 0, LABEL_SUBSET_STREAM).random(n)), kind="stable")
    out = {}
    for f in fractions:
        k = min(n, max(min_count, math.ceil(f * n)))
        out[float(f)] = np.sort(order[:k]).astype(np.int64)
    return out


def save_label_efficiency_plot(
    fractions: Sequence[float],
    scores: Sequence[float],
    path: str | PathLike[str],
    metric: str = "AUROC",
    title: str = "label efficiency",
) -> Path:
    """Plot ``metric`` against the labelled fraction (log x axis) and write a PNG.

    Parameters
    ----------
    fractions
        Labelled fractions.
    scores
        Metric value at each fraction.
    path
        Output PNG path (parent folders are created).
    metric, title
        Axis label and title.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if len(fractions) != len(scores) or not fractions:
        raise ValueError("need one score per fraction, at least one")
    order = np.argsort(fractions)
    x = np.asarray(fractions, dtype=np.float64)[order] * 100.0
    y = np.asarray(scores, dtype=np.float64)[order]
    with png_axes(path, (5, 3.5)) as ax:
        ax.plot(x, y, "o-")
        ax.set_xscale("log")
        ax.set_xlabel("labelled training data (%)")
        ax.set_ylabel(metric)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    return Path(path)
