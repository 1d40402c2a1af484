"""Per-volume statistics for intensity ops and a foreground summary for label-aware patch sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

PERCENTILES = (0.5, 99.5)
MAX_GRID = 32
"""Largest number of occupancy cells along an axis (the cell size grows with the volume)."""


def intensity_stats(array: npt.NDArray[Any]) -> dict[str, float]:
    """Percentiles 0.5 / 99.5 (numpy's linear method), mean, std, min and max over every voxel.

    8- and 16-bit integer images (CT HU, most MR) take one histogram pass; others use numpy.
    """
    if array.size == 0:
        return {k: float("nan") for k in ("p0_5", "p99_5", "mean", "std", "min", "max")}
    if array.dtype.kind in "ui" and array.dtype.itemsize <= 2:
        return _histogram_stats(array)
    lo, hi = np.percentile(array, PERCENTILES)
    return {
        "p0_5": float(lo),
        "p99_5": float(hi),
        "mean": float(array.mean(dtype=np.float64)),
        "std": float(array.std(dtype=np.float64)),
        "min": float(array.min()),
        "max": float(array.max()),
    }


def cell_size(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Occupancy cell edge per axis: at least 8 voxels, at most :data:`MAX_GRID` cells per axis."""
    return tuple(max(8, -(-n // MAX_GRID)) for n in shape)


def foreground_summary(label: npt.NDArray[Any]) -> dict[str, Any]:
    """Coarse occupancy of every non-zero label value.

    Returns
    -------
    dict
        ``{"cell": [cz, cy, cx], "labels": {value: {"voxels": n, "bbox": [lo..., hi...],
        "cells": [[iz, iy, ix, count], ...]}}}``: for each value, its voxel count, bounding box
        (inclusive lo, exclusive hi) and the occupied cells of the coarse grid with their voxel
        counts, so a sampler can pick a cell by weight and a voxel inside it.
    """
    cell = cell_size(label.shape)
    out: dict[str, Any] = {"cell": list(cell), "labels": {}}
    values = np.unique(label)
    for v in values[values != 0]:
        coords = np.nonzero(label == v)
        cidx = np.stack([c // s for c, s in zip(coords, cell, strict=True)], axis=1)
        cells, counts = np.unique(cidx, axis=0, return_counts=True)
        out["labels"][str(int(v))] = {
            "voxels": int(coords[0].size),
            "bbox": [int(c.min()) for c in coords] + [int(c.max()) + 1 for c in coords],
            "cells": [[*map(int, c), int(n)] for c, n in zip(cells, counts, strict=True)],
        }
    return out


def _histogram_stats(array: npt.NDArray[Any]) -> dict[str, float]:
    """Exact statistics of a small-integer image from its value histogram."""
    flat = array.reshape(-1)
    vmin, vmax = int(flat.min()), int(flat.max())
    counts = np.bincount((flat.astype(np.int32) - vmin), minlength=vmax - vmin + 1)
    values = np.arange(vmin, vmax + 1, dtype=np.float64)
    n = flat.size
    mean = float(counts @ values) / n
    var = float(counts @ (values - mean) ** 2) / n
    cum = np.cumsum(counts)
    out = {}
    for name, q in zip(("p0_5", "p99_5"), PERCENTILES, strict=True):
        rank = q / 100.0 * (n - 1)
        k = int(np.floor(rank))
        a = values[np.searchsorted(cum, k, side="right")]
        b = values[np.searchsorted(cum, min(k + 1, n - 1), side="right")]
        out[name] = float(a + (b - a) * (rank - k))
    return {**out, "mean": mean, "std": float(np.sqrt(var)), "min": float(vmin), "max": float(vmax)}
