"""The source footprint of a plan: the box of input voxels its output can read.

A patch needs only the voxels its source coordinates touch. Coordinates are an affine
function of the output index plus a bounded elastic displacement, so the corners of
the output box bound them; the interpolation support, the padding mode and the volume
give the integer box. Reading only that box (``LazyVolume.read_window``) and running
the plan with a :class:`~fastmed.transforms.plan.Window` gives exactly the patch of the
whole volume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fastmed.transforms.plan import SamplePlan

# Slack on the float64 coordinate bounds for the kernels' float32 arithmetic (and the GPU's
# FMA contraction): relative to the coordinates' magnitude plus an absolute part. None for
# integer matrices without an elastic grid, whose coordinates are exact.
_REL_SLACK = 1e-4
_ABS_SLACK = 1e-3


# The 8 corners of the output box as (z, y, x, 1) rows, scaled by the box's last index per axis.
_CORNERS = np.array([[z, y, x, 1.0] for z in (0, 1) for y in (0, 1) for x in (0, 1)])


def coord_range(plan: SamplePlan) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (z, y, x) of the source coordinates of every output voxel."""
    lo, hi = coord_ranges([plan])
    return lo[0], hi[0]


def coord_ranges(plans: Sequence[SamplePlan]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`coord_range` of many plans at once: ``(n, 3)`` lower and upper bounds."""
    n = len(plans)
    m = np.stack([np.asarray(p.spatial.matrix, dtype=np.float64)[:3, :4] for p in plans]) if n else np.zeros((0, 3, 4))
    ends = np.asarray([[*(k - 1 for k in p.spatial.out_shape), 1] for p in plans], dtype=np.float64).reshape(n, 4)
    c = (_CORNERS * ends[:, None, :]) @ m.transpose(0, 2, 1)
    lo, hi = c.min(axis=1), c.max(axis=1)
    grids = [p.spatial.grid for p in plans]
    has_grid = np.asarray([g is not None for g in grids], dtype=bool)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, g in enumerate(grids):
        if g is not None:
            by_shape.setdefault(tuple(g.shape), []).append(i)
    for rows in by_shape.values():
        # B-spline weights are non-negative and sum to one: each displacement component
        # lies between the smallest and the largest control value of that component.
        g = np.stack([np.asarray(grids[i], dtype=np.float64).reshape(3, -1) for i in rows])
        lo[rows] = lo[rows] + np.minimum(g.min(axis=2), 0.0)
        hi[rows] = hi[rows] + np.maximum(g.max(axis=2), 0.0)
    slack = _ABS_SLACK + _REL_SLACK * np.maximum(np.abs(lo), np.abs(hi))
    if not has_grid.all():
        # Integer matrices without a grid (crops, flips, rot90): every coordinate is an exact integer in float32.
        exact = ~has_grid & (m == np.round(m)).all(axis=(1, 2)) & (np.abs(m).max(axis=(1, 2), initial=0.0) < 2**20)
        slack[exact] = 0.0
    return lo - slack, hi + slack


def _pad_range(lo: int, hi: int, n: int, pad_mode: str) -> tuple[int, int]:
    """The voxels indices ``[lo, hi)`` read after padding against an axis of ``n`` voxels."""
    if pad_mode == "edge":
        return min(max(lo, 0), n - 1), min(max(hi - 1, 0), n - 1) + 1
    if pad_mode == "reflect":
        if n == 1 or hi - lo >= 2 * (n - 1):
            return 0, n
        period = 2 * (n - 1)
        r = np.arange(lo, hi, dtype=np.int64) % period
        r = np.where(r < n, r, period - r)
        return int(r.min()), int(r.max()) + 1
    a, b = max(lo, 0), min(hi, n)
    if a >= b:  # nothing inside: every tap is the constant; one voxel keeps the window non-empty
        a = min(max(lo, 0), n - 1)
        b = a + 1
    return a, b


def source_bbox(plan: SamplePlan, volume_shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The half-open integer box ``(lo, hi)`` of source voxels any array of ``plan`` can read.

    Parameters
    ----------
    plan
        The sample's plan (its matrix, elastic grid and per-array interpolation and padding).
    volume_shape
        The volume's spatial shape, (D, H, W) or (H, W) for 2D samples.

    Returns
    -------
    tuple
        ``lo`` and ``hi`` per spatial axis of ``volume_shape``, ``0 <= lo < hi <= n``: the
        union over arrays of the taps (linear: ``floor .. floor + 1``; nearest: the rounded
        index) of every output voxel, mapped through the array's padding (edge: the
        border voxels; reflect: the mirrored range; constant: clipped to the volume).
    """
    return source_bboxes([plan], [volume_shape])[0]


def source_bboxes(
    plans: Sequence[SamplePlan], volume_shapes: Sequence[Sequence[int]]
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """:func:`source_bbox` of many plans (the coordinate bounds in one vectorized pass)."""
    if not plans:
        return []
    clos, chis = coord_ranges(plans)
    return [_box(p, v, lo.tolist(), hi.tolist()) for p, v, lo, hi in zip(plans, volume_shapes, clos, chis, strict=True)]


def _box(
    plan: SamplePlan, volume_shape: Sequence[int], clo: list[float], chi: list[float]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    vol = tuple(int(n) for n in volume_shape)
    vol3 = (1, *vol) if len(vol) == 2 else vol
    if len(vol3) != 3 or any(n <= 0 for n in vol3):
        raise ValueError(f"volume shape must be 2 or 3 positive extents, got {tuple(volume_shape)}")
    box_lo = [math.inf] * 3
    box_hi = [-math.inf] * 3
    for ap in plan.arrays:
        for a in range(3):
            if ap.interp == "nearest":
                lo, hi = math.floor(clo[a] + 0.5), math.floor(chi[a] + 0.5) + 1
            else:
                lo, hi = math.floor(clo[a]), math.floor(chi[a]) + 2
            lo, hi = _pad_range(lo, hi, vol3[a], ap.pad_mode)
            box_lo[a] = min(box_lo[a], lo)
            box_hi[a] = max(box_hi[a], hi)
    if not plan.arrays:
        box_lo, box_hi = [0, 0, 0], [1, 1, 1]
    out_lo = tuple(int(v) for v in box_lo)
    out_hi = tuple(int(v) for v in box_hi)
    return (out_lo[1:], out_hi[1:]) if len(vol) == 2 else (out_lo, out_hi)
