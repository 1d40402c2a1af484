"""Label-efficiency curve: nested labelled subsets (1 %, 10 %, 100 %; stratified by class) and the plot of a metric."""

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


def stratified_label_subsets(
    strata: npt.ArrayLike, fractions: Sequence[float], seed: int, min_per_class: int = 1
) -> dict[float, npt.NDArray[np.int64]]:
    """Nested subsets of ``range(len(strata))`` that keep every class: ``fraction`` of each class, at least one.

    Each class (value of ``strata``; NaN, an unlabelled sample, is a class of its own) is ordered once by the
    keyed RNG (stream :data:`LABEL_SUBSET_STREAM`, index = the class's rank among the sorted values), and a
    fraction ``f`` takes the first ``min(n_c, max(min_per_class, ceil(f * n_c)))`` of each class ``c``, so the
    subset of a smaller fraction is inside every larger one and the same seed gives the same subsets.

    Parameters
    ----------
    strata
        One class value per labelled training sample, shape (n,).
    fractions
        Fractions in (0, 1] (e.g. ``(0.01, 0.1, 1.0)``).
    seed
        Seed of the keyed RNG.
    min_per_class
        Smallest number of samples taken from each class (capped at the class's size).

    Returns
    -------
    dict
        ``fraction -> sorted sample indices``.
    """
    y = np.asarray(strata, dtype=np.float64).reshape(-1)
    if y.size < 1:
        raise ValueError("need at least one sample, got 0")
    if any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {list(fractions)}")
    nan = np.isnan(y)
    classes = [np.flatnonzero(y == v) for v in np.unique(y[~nan])] + ([np.flatnonzero(nan)] if nan.any() else [])
    orders = []
    for rank, members in enumerate(classes):
        u = np.asarray(KeyedRNG(seed, 0, rank, LABEL_SUBSET_STREAM).random(members.size))
        orders.append(members[np.argsort(u, kind="stable")])
    out = {}
    for f in fractions:
        take = [o[: min(o.size, max(min_per_class, math.ceil(f * o.size)))] for o in orders]
        out[float(f)] = np.sort(np.concatenate(take)).astype(np.int64)
    return out


def save_label_efficiency_plot(
    fractions: Sequence[float],
    scores: Sequence[float],
    path: str | PathLike[str],
    metric: str = "AUROC",
    title: str = "label efficiency",
    annotations: Sequence[str] | None = None,
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
    annotations
        A text shown beside each point (e.g. ``"n=4"``), in the order of ``fractions``.

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
        if annotations is not None:
            if len(annotations) != len(fractions):
                raise ValueError("need one annotation per fraction")
            for i in order:
                if np.isfinite(scores[i]):
                    ax.annotate(
                        str(annotations[i]),
                        (fractions[i] * 100.0, scores[i]),
                        xytext=(0, 6),
                        textcoords="offset points",
                        ha="center",
                        fontsize=8,
                    )
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g} %" for v in x])  # the measured fractions, not powers of ten
        ax.minorticks_off()
        ax.set_xlabel("labelled training data")
        ax.set_ylabel(metric)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.margins(x=0.1, y=0.15)
        ax.figure.tight_layout()
    return Path(path)
